"""`fleet watch`'s Prometheus series, read off the events of a real run of the loop."""

import pytest

from tests.gateways.test_loop import Flaky, watch_ticks
from tidewise.fleet.failover import FailoverPolicy
from tidewise.gateways import GatewayError
from tidewise.gateways.metrics import ERROR_KINDS, WatchMetrics


def test_the_series_follow_a_failover_and_count_what_went_wrong():
    refused = GatewayError("HAProxy runtime API at /run/admin.sock: refused")
    gateway = Flaky({"a": 0, "b": 0}, failures={2: refused}, partial=0)
    probes = iter([{"a": True, "b": True}] + [{"a": False, "b": True}] * 5)
    metrics = WatchMetrics()
    events = []

    def emit(event):
        events.append(event)
        metrics.observe(event)

    emit({"event": "started", "desired": {"a": 60, "b": 40}})
    watch_ticks(gateway, FailoverPolicy(fall=2), probes, 6, emit=emit, desired={"a": 60, "b": 40})
    value = metrics.registry.get_sample_value
    assert value("tidewise_fleet_desired_weight", {"cluster": "a"}) == 60
    assert value("tidewise_fleet_weight", {"cluster": "a"}) == 0  # taken out
    assert value("tidewise_fleet_weight", {"cluster": "b"}) == 40
    assert value("tidewise_fleet_admitted_ratio", {"cluster": "a"}) == 0
    assert value("tidewise_fleet_cluster_healthy", {"cluster": "a"}) == 0
    assert value("tidewise_fleet_failover_engaged") == 1
    assert value("tidewise_fleet_errors_total", {"kind": "gateway"}) == 1  # the refused apply
    assert value("tidewise_fleet_errors_total", {"kind": "internal"}) == 0
    applied = [e for e in events if e["event"] == "applied"]
    assert value("tidewise_fleet_apply_seconds_count") == len(applied) == 2
    assert value("tidewise_fleet_drift_repairs_total") == 1  # the failed apply, repaired


def test_every_error_kind_is_a_series_from_the_start():
    metrics = WatchMetrics()
    for kind in ERROR_KINDS:
        assert metrics.registry.get_sample_value("tidewise_fleet_errors_total", {"kind": kind}) == 0
    metrics.observe({"event": "error", "kind": "run-file", "error": "x"})
    count = metrics.registry.get_sample_value("tidewise_fleet_errors_total", {"kind": "run-file"})
    assert count == pytest.approx(1)


def test_a_refused_degradation_counts_as_a_degrade_error():
    metrics = WatchMetrics()
    metrics.observe({"event": "degrade", "cluster": "b", "workload": "w", "replicas": 0})
    metrics.observe(
        {"event": "degrade", "cluster": "b", "workload": "w", "replicas": 0, "error": "403"}
    )
    count = metrics.registry.get_sample_value("tidewise_fleet_errors_total", {"kind": "degrade"})
    assert count == 1
