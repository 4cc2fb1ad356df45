import numpy as np
import pytest

from tidewise.scaling.observation import ReplicaDecision, ServiceModel
from tidewise.sim.autoscale.replay import replay
from tidewise.sim.rate_trace import RateTrace

SERVICE = ServiceModel(replica_capacity=10.0, startup_s=60, target_utilization=1.0)


class Constant:
    def __init__(self, replicas):
        self.replicas = replicas

    def recommend(self, obs):
        return ReplicaDecision(self.replicas, "constant")


class StepAt:
    """Asks for ``after`` replicas from ``at_s`` on."""

    def __init__(self, at_s, before, after):
        self.at_s, self.before, self.after = at_s, before, after

    def recommend(self, obs):
        return ReplicaDecision(self.after if obs.now_s >= self.at_s else self.before, "step")


def trace(values):
    return RateTrace("t", 0.0, 60.0, np.asarray(values, dtype=float), "v")


def test_enough_replicas_serve_everything_and_cost_exactly_their_hours():
    result = replay(trace([20, 20, 20, 20]), SERVICE, Constant(2), "c")
    assert result.served_fraction == 1.0 and result.violation_minutes == 0
    assert result.replica_hours == pytest.approx(2 * 4 / 60)
    assert result.scale_events == 0  # it starts with the replicas the first load needs


def test_a_new_replica_serves_only_after_its_start_up():
    # 1 replica from the start; a second asked for at t=60 is Ready at t=120
    result = replay(trace([10, 20, 20, 20]), SERVICE, StepAt(60, 1, 2), "s")
    assert result.violation_minutes == 1  # minute 1: capacity 10 for load 20
    assert result.served_fraction == pytest.approx((10 + 10 + 20 + 20) / 70)
    assert result.replica_hours == pytest.approx((1 + 2 + 2 + 2) / 60)


def test_warm_up_and_gaps_are_not_measured():
    result = replay(trace([50, np.nan, 10, 10]), SERVICE, Constant(1), "c", warmup_s=60)
    assert result.served_fraction == 1.0 and result.violation_minutes == 0
    assert result.replica_hours == pytest.approx(2 / 60)  # minutes 2 and 3 only


def test_scale_down_removes_starting_pods_first():
    class UpThenDown:
        def recommend(self, obs):
            return ReplicaDecision(4 if 45 <= obs.now_s < 90 else 3, "x")

    result = replay(trace([30, 30, 30]), SERVICE, UpThenDown(), "x")
    # the pod added at t=45 is still starting at t=90 and goes; the three Ready ones stay
    # (removing a Ready one would leave 20 of capacity for 30 of load at t=90)
    assert result.violation_minutes == 0 and result.scale_events == 2
