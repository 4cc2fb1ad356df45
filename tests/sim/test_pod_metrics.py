"""Simulated pods as metrics-server reports them: what the HPA's replica calculator reads in
the twins."""

import pytest

from tidewise.model import Resources, WorkloadSpec, WorkloadStatus
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.observation import ServiceModel
from tidewise.scaling.replica_calculator import ReplicaCalculationError
from tidewise.sim.pod_metrics import StatusMetrics, pod_samples

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
