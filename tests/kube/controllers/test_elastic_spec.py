from datetime import UTC, datetime

import pytest

from tidewise.kube.controllers.elastic_spec import (
    SpecError,
    history_from_status,
    history_to_status,
    read_spec,
    resume_times,
)
from tidewise.scaling.behavior import ScaleEvent, ScalingHistory, TimedRecommendation
from tidewise.scaling.metrics import MetricKind, TargetType

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
QUEUE = {
    "type": "External",
    "external": {
        "metric": {"name": "queue", "query": "sum(queue_depth)"},
        "target": {"type": "AverageValue", "averageValue": "10"},
    },
}


def obj(**spec):
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 10, **spec},
    }


def test_reads_metrics_behaviour_cron_and_predictive():
    spec = read_spec(
        obj(
            minReplicas=2,
            metrics=[QUEUE],
            behavior={"scaleUp": {"stabilizationWindowSeconds": 30}},
            cron={
                "timeZone": "Asia/Shanghai",
                "jobs": [{"name": "morning", "schedule": "0 0 8 * * *", "targetSize": 6}],
            },
            predictive={
                "enabled": True,
                "loadQuery": "sum(rate(requests[1m]))",
                "replicaCapacity": 50,
            },
            prometheus={"url": "http://prometheus:9090"},
        )
    )
    assert (spec.min_replicas, spec.max_replicas) == (2, 10)
    (metric,) = spec.metrics
    assert metric.kind is MetricKind.EXTERNAL and metric.target_type is TargetType.AVERAGE_VALUE
    assert metric.query == "sum(queue_depth)" and metric.target == 10_000
    assert spec.behavior.scale_up.stabilization_window_s == 30
    assert spec.cron is not None and spec.cron.time_zone == "Asia/Shanghai"
    assert spec.predictive is not None and spec.predictive.service.replica_capacity == 50
    assert spec.prometheus == {"url": "http://prometheus:9090"}


def test_predictive_off_unless_enabled():
    spec = read_spec(obj(metrics=[QUEUE], predictive={"loadQuery": "x", "replicaCapacity": 5}))
    assert spec.predictive is None and spec.cron is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef: needs apiVersion"),
        ({"maxReplicas": 0}, "spec.maxReplicas"),
        (
            {"minReplicas": 11, "metrics": [QUEUE]},
            "spec.minReplicas: a whole number in 0..maxReplicas",
        ),
        ({"metrics": [{"type": "Nope"}]}, "spec.metrics[0].type"),
        (
            {"metrics": [QUEUE], "behavior": {"scaleDown": {"policies": []}}},
            "spec.behavior.scaleDown.policies",
        ),
        (
            {"cron": {"jobs": [{"name": "x", "schedule": "0 8 * * *", "targetSize": 1}]}},
            "spec.cron.jobs[0].schedule",
        ),
        ({"predictive": {"enabled": True, "replicaCapacity": 5}}, "spec.predictive.loadQuery"),
        (
            {"predictive": {"enabled": True, "loadQuery": "x", "replicaCapacity": 0}},
            "spec.predictive: replica_capacity",
        ),
        ({}, "spec: give metrics, vllm, cron jobs or predictive"),
    ],
)
def test_errors_name_the_field(spec, message):
    with pytest.raises(SpecError) as error:
        read_spec(obj(**spec))
    assert str(error.value).startswith(message)


def test_a_prometheus_query_as_a_pods_metric_is_refused():
    pods = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "queue", "query": "sum(queue_depth)"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    with pytest.raises(SpecError, match="use type External"):
        read_spec(obj(metrics=[pods]))


def test_history_round_trips_through_status():
    history = ScalingHistory(
        (TimedRecommendation(3, 1_700_000_000.5), TimedRecommendation(5, 1_700_000_015.0)),
        (ScaleEvent(2, 1_700_000_015.0),),
        (ScaleEvent(1, 1_700_000_100.0, outdated=True),),
    )
    assert history_from_status(history_to_status(history)) == history
    assert history_from_status(None) == ScalingHistory()
    assert history_from_status({"recommendations": [["x", 1]]}) == ScalingHistory()


def test_resume_times_read_the_recorded_firings():
    raw = {"since": {"morning": "2026-11-28T08:00:00Z"}}
    assert resume_times(raw) == {"morning": datetime(2026, 11, 28, 8, tzinfo=UTC)}
    assert resume_times(None) == {}


PREDICTIVE = {"enabled": True, "loadQuery": "sum(rate(requests[1m]))", "replicaCapacity": 50}


def test_headroom_defaults_look_past_the_lead_by_a_node_start_up():
    """startupSeconds 60 + the forecast's 120 s margin + 180 s of node start-up; at most
    maxReplicas placeholders, at the shipped PriorityClass."""
    spec = read_spec(
        obj(predictive=PREDICTIVE | {"startupSeconds": 60}, headroom={"enabled": True})
    )
    assert spec.headroom is not None
    assert (spec.headroom.rule.lookahead_s, spec.headroom.rule.max_placeholders) == (360.0, 10)
    assert spec.headroom.priority_class == "tidewise-headroom"
    raw = {"enabled": True, "lookaheadSeconds": 900, "maxPlaceholders": 4}
    raw |= {"priorityClassName": "spare"}
    spec = read_spec(obj(predictive=PREDICTIVE, headroom=raw))
    assert spec.headroom is not None and spec.headroom.rule.lookahead_s == 900.0
    assert (spec.headroom.rule.max_placeholders, spec.headroom.priority_class) == (4, "spare")
    assert read_spec(obj(predictive=PREDICTIVE, headroom={"enabled": False})).headroom is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"metrics": [QUEUE], "headroom": {"enabled": True}}, "needs spec.predictive"),
        (
            {"predictive": PREDICTIVE, "headroom": {"enabled": True, "lookaheadSeconds": 0}},
            "spec.headroom.lookaheadSeconds",
        ),
        (
            {"predictive": PREDICTIVE, "headroom": {"enabled": True, "maxPlaceholders": -1}},
            "spec.headroom.maxPlaceholders",
        ),
        (
            {
                "predictive": PREDICTIVE,
                "headroom": {"enabled": True},
                "scaleTargetRef": {"apiVersion": "example.com/v1", "kind": "Worker", "name": "w"},
            },
            "scaleTargetRef must be an apps/v1 Deployment",
        ),
    ],
)
def test_a_bad_headroom_names_its_field(spec, field):
    with pytest.raises(SpecError, match=field):
        read_spec(obj(**spec))
