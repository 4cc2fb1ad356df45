"""Simulated pods as metrics-server reports them: what the HPA's replica calculator reads in
the twins."""

import numpy as np
import pytest

from tidewise.model import Resources, WorkloadSpec, WorkloadStatus
from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.observation import ServiceModel
from tidewise.scaling.replica_calculator import ReplicaCalculationError
from tidewise.sim.pod_metrics import ReplayPods, StatusMetrics, pod_samples

CPU = Metric.cpu_utilization(50)


def test_ready_pods_share_the_load_and_starting_ones_idle():
    service = ServiceModel(replica_capacity=10.0, startup_s=60, cpu_request_milli=1000)
    # born at 0 and 30: Ready at 60; born at 100: starting until 160
    pods = pod_samples([0.0, 30.0, 100.0], 120.0, service, load=15.0)
    assert [(p.ready, p.value) for p in pods] == [(True, 750), (True, 750), (False, 100)]
    assert [p.ready_changed_s for p in pods] == [60.0, 90.0, 100.0]
    assert all(p.phase == "Running" and p.request == 1000 for p in pods)


def test_no_ready_pod_means_no_load_served():
    service = ServiceModel(replica_capacity=10.0, startup_s=60)
    assert [p.value for p in pod_samples([100.0], 120.0, service, load=15.0)] == [100]


def test_the_replay_s_fingerprint_gives_the_hpa_the_answer_of_the_pods_themselves():
    # pods born every 15 s at random, ages spread over the start-up, the CPU initialisation
    # period and past it; the memo answers repeats, so the answers must be those of a fresh
    # computation on the pods for every state
    service = ServiceModel(replica_capacity=10.0, startup_s=60)
    memo = HorizontalPodAutoscaler.on_cpu(1, 50, 0.7)
    fresh = HorizontalPodAutoscaler.on_cpu(1, 50, 0.7)
    rng = np.random.default_rng(3)
    hits = 0
    for tick in range(3000):
        now = 600.0 + 15 * (tick % 40)
        created = sorted(float(b) for b in 15 * rng.integers(0, 40, rng.integers(1, 8)))
        load = float(rng.choice([0.0, 10.0, 25.0, 40.0]))
        current = int(rng.integers(1, 8))
        source = ReplayPods(created, now, service, load)
        hits += (source.fingerprint(), current) in memo._memo
        expected = fresh._propose(_Pods(pod_samples(created, now, service, load)), current, now)
        assert memo.proposal(source, current, now) == expected
    assert hits > 1000  # the memo was exercised, not bypassed


class _Pods:
    def __init__(self, pods):
        self._pods = pods

    def pods(self, metric):
        return self._pods


SPEC = WorkloadSpec("web", Resources(cpu_milli=500), 10.0, 30, 1, 20, 0.5)


def test_a_workload_s_counts_read_as_ready_starting_and_pending_pods():
    status = WorkloadStatus(SPEC, desired=6, ready=3, starting=2, pending=1, demand_rps=24.0)
    pods = StatusMetrics(status, now_s=300.0).pods(CPU)
    assert [(p.phase, p.ready) for p in pods] == [("Running", True)] * 3 + [
        ("Running", False)
    ] * 2 + [("Pending", False)]
    # 24 rps over 3 x 10 rps: 80 % of the 500 m request; starting pods at 10 % of it
    assert [p.value for p in pods] == [400, 400, 400, 50, 50, None]


def test_named_series_are_the_twin_s_and_an_unknown_one_is_a_metric_error():
    status = WorkloadStatus(SPEC, desired=4, ready=4, starting=0, pending=0, demand_rps=35.0)
    metrics = StatusMetrics(status, now_s=0.0)
    rps = Metric(MetricKind.EXTERNAL, "rps", TargetType.VALUE, 1, query="requests_per_second")
    assert metrics.value(rps) == 35_000
    with pytest.raises(ReplicaCalculationError, match="requests_per_second, ready_replicas"):
        metrics.value(Metric(MetricKind.EXTERNAL, "qps", TargetType.VALUE, 1))
