"""Serverless bursts in the autoscaling benchmark: what the VM replicas miss runs on serverless
containers, billed per second, and a container past the break-even asks for a VM replica."""

import math

import numpy as np
import pytest

from tests.factories import CPU4, GPU1, offering, serverless
from tidewise.capacity.serverless import break_even_s
from tidewise.model import Resources
from tidewise.scaling.observation import ReplicaDecision, ServiceModel
from tidewise.sim.autoscale.replay import replay
from tidewise.sim.autoscale.serverless import Burst, BurstPricing, burst_pricing
from tidewise.sim.rate_trace import RateTrace

SERVICE = ServiceModel(replica_capacity=10.0, startup_s=60, target_utilization=1.0)
REPLICA = Resources(cpu_milli=1000, memory_mib=2048)


def pricing(break_even: float = math.inf) -> BurstPricing:
    return BurstPricing(2.0, 3.6, break_even, startup_s=30.0)


class Keep:
    """Never changes the replica count on its own (an HPA within its tolerance)."""

    def recommend(self, obs):
        return ReplicaDecision(obs.replicas, "keep")


def trace(values):
    return RateTrace("t", 0.0, 60.0, np.asarray(values, dtype=float), "v")


def test_the_pricing_is_the_twin_s_break_even_on_the_cheapest_vm():
    dear = serverless(vcpu_second_usd=1e-4)  # $0.36 a vCPU-hour: dearer than a VM replica
    offerings = [offering(CPU4), offering(GPU1), dear]
    got = burst_pricing(offerings, REPLICA, startup_s=30.0, overhead_s=330.0)
    assert got.vm_per_replica_hour < got.serverless_per_replica_hour
    assert got.break_even_s == break_even_s(REPLICA, dear, offerings, 330.0) < math.inf
    assert got.startup_s == 30.0
    cheap = burst_pricing([offering(CPU4), serverless()], REPLICA, startup_s=30.0)
    assert cheap.break_even_s == math.inf  # serverless no dearer: never replaced


def test_no_serverless_host_is_an_error_naming_it():
    with pytest.raises(ValueError, match="no serverless offering"):
        burst_pricing([offering(CPU4)], REPLICA, startup_s=30.0)
    gpu = Resources(cpu_milli=1000, memory_mib=2048, gpu_milli=500)
    with pytest.raises(ValueError, match="no serverless offering"):
        burst_pricing([offering(GPU1), serverless()], gpu, startup_s=30.0)


def test_a_burst_bridges_the_vm_start_up_and_is_billed_for_its_seconds():
    # 1 VM replica; the load doubles at t=60 and the policy keeps 1: a container, Ready at
    # t=90, carries the second replica's load from then on; nothing else changes
    burst = Burst(pricing())
    result = replay(trace([10, 20, 20, 20]), SERVICE, Keep(), "k", burst=burst)
    # minute 1: 10, 10, 20, 20 per 15 s tick; minutes 2-3 in full
    assert result.served_fraction == pytest.approx((600 + 900 + 1200 + 1200) / 4200)
    assert result.violation_minutes == 1
    assert result.replica_hours == pytest.approx(4 / 60)  # the VM replica only
    assert burst.pod_seconds == pytest.approx(180.0)  # t = 60 .. 240, from creation
    summary = result.summary()
    assert summary["serverless_pod_hours"] == pytest.approx(0.05)
    assert summary["serverless_usd"] == pytest.approx(0.18)  # 0.05 h x $3.60
    assert summary["replica_usd"] == pytest.approx(0.13)  # 4 minutes x $2.00 an hour
    assert summary["cost_usd"] == pytest.approx(0.31)


def test_past_the_break_even_a_vm_replica_replaces_the_container():
    # break-even 120 s: the container made at t=60 asks for a VM replica at t=180, Ready at
    # t=240, when the container goes
    burst = Burst(pricing(break_even=120.0))
    result = replay(trace([10, 20, 20, 20, 20, 20]), SERVICE, Keep(), "k", burst=burst)
    assert burst.pod_seconds == pytest.approx(180.0)
    assert burst.created == []
    assert result.scale_events == 1  # 1 -> 2, kept
    assert result.replica_hours == pytest.approx((360 + 180) / 3600)
    assert result.violation_minutes == 1  # only minute 1, before the container is Ready


def test_without_a_burst_the_replay_is_unchanged():
    plain = replay(trace([10, 20, 20, 20]), SERVICE, Keep(), "k")
    assert plain.served_fraction == pytest.approx(2400 / 4200)
    assert "serverless_pod_hours" not in plain.summary()
