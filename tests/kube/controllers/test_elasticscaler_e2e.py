"""ElasticScaler end to end: it follows a Prometheus metric up and down within the HPA
behaviour's limits, keeps those limits across an operator killed mid-scale, and reports a
malformed object in a condition."""

import time

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Event

from tests.kube.controllers.support import ReplicaRecorder, parked_deployment
from tests.kube.kwok import wait_for
from tidewise.kube.api.kinds import ElasticScalerResource

pytestmark = pytest.mark.e2e

TARGET = "worker"
PER_REPLICA = 10  # queue depth one replica handles
UP_PODS, UP_PERIOD_S = 2, 6  # at most 2 more replicas per 6 s
DOWN_WINDOW_S, DOWN_PODS, DOWN_PERIOD_S = 4, 1, 3


def elastic_scaler(name: str, metric_target: str = str(PER_REPLICA)) -> ElasticScalerResource:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": TARGET},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue_depth", "query": "sum(e2e_queue_depth)"},
                    "target": {"type": "AverageValue", "averageValue": metric_target},
                },
            }
        ],
        "behavior": {
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": UP_PODS, "periodSeconds": UP_PERIOD_S}],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": DOWN_WINDOW_S,
                "policies": [{"type": "Pods", "value": DOWN_PODS, "periodSeconds": DOWN_PERIOD_S}],
            },
        },
    }
    return ElasticScalerResource(metadata={"name": name}, spec=spec)


def status(kube: Client, namespace: str, name: str) -> dict:
    return kube.get(ElasticScalerResource, name, namespace=namespace).status or {}


def assert_rate_limited(changes: list[tuple[float, int]], pods: int, period_s: float) -> None:
    """No window of ``period_s`` saw the count move by more than ``pods`` (50 ms of polling
    slack: the recorder stamps a change when it sees it)."""
    for i, (start, replicas) in enumerate(changes):
        for at, later in changes[i + 1 :]:
            if at - start < period_s - 0.05:
                assert abs(later - replicas) <= pods, changes


def test_follows_a_prometheus_metric_within_the_behaviour_across_a_restart(
    kube, operator_factory, provisioned, prometheus
):
    namespace = provisioned
    operator = operator_factory("--elastic-period", "1", "--prometheus-url", prometheus.url)
    kube.create(parked_deployment(TARGET, 1), namespace=namespace)
    kube.create(elastic_scaler("queue"), namespace=namespace)
    wait_for("the first decision", lambda: status(kube, namespace, "queue").get("rule"))
    assert status(kube, namespace, "queue")["desiredReplicas"] == 1

    with ReplicaRecorder(kube, TARGET, namespace) as seen:
        stepped = time.time()
        prometheus.gauge.set(7 * PER_REPLICA)  # wants 7 replicas
        wait_for("the first step up", lambda: seen.current() > 1, deadline=30)
        reacted = seen.changes[-1][0] - stepped
        operator.kill()  # mid-scale: 3 of 7
        killed_at = seen.current()
        operator.start()
        # the recorder's watch may see a count a moment after the API holds it
        wait_for("7 replicas seen", lambda: seen.changes[-1][1] == 7, deadline=90)
        up = list(seen.changes)
        prometheus.gauge.set(2 * PER_REPLICA)
        wait_for("2 replicas seen", lambda: seen.changes[-1][1] == 2, deadline=90)
    assert killed_at < 7
    steps_up = [r for _, r in up]
    assert steps_up == sorted(steps_up) and steps_up[-1] == 7, up
    assert_rate_limited(up, UP_PODS, UP_PERIOD_S)
    down = [c for c in seen.changes if c[0] >= up[-1][0]]
    assert_rate_limited(down, DOWN_PODS, DOWN_PERIOD_S)
    assert [r for _, r in down] == [7, 6, 5, 4, 3, 2], down
    assert reacted < 8, f"{reacted:.1f} s from the metric step to the first scale write"

    final = status(kube, namespace, "queue")
    assert final["desiredReplicas"] == 2 and final["currentReplicas"] in (2, 3)
    assert final["rule"] in ("reactive", "behavior")
    assert final["metrics"] == [{"name": "sum(e2e_queue_depth)", "value": "20"}]
    ready = {c["type"]: c for c in final["conditions"]}
    assert ready["Ready"]["status"] == "True" and ready["ScalingActive"]["status"] == "True"
    decisions = 'tidewise_controller_decisions_total{controller="elasticscaler"'
    assert decisions in operator.metrics()
    told = kube.list(Event, namespace=namespace, fields={"involvedObject.name": "queue"})
    assert any(e.reason == "SuccessfulRescale" and "New size: 7" in e.message for e in told)


def test_a_malformed_object_gets_a_clear_condition(kube, operator_factory, provisioned, prometheus):
    namespace = provisioned
    operator_factory("--elastic-period", "1", "--prometheus-url", prometheus.url)
    kube.create(parked_deployment(TARGET, 1), namespace=namespace)
    kube.create(elastic_scaler("broken", metric_target="lots"), namespace=namespace)
    kube.create(elastic_scaler("fine"), namespace=namespace)

    def condition() -> dict | None:
        found = status(kube, namespace, "broken").get("conditions") or []
        return next((c for c in found if c["type"] == "Ready"), None)

    wait_for("the broken object's condition", lambda: condition() is not None)
    broken = condition()
    assert broken["status"] == "False" and broken["reason"] == "InvalidSpec"
    assert broken["message"].startswith("spec.metrics[0].target.averageValue: 'lots'")
    wait_for("the good object decided", lambda: status(kube, namespace, "fine").get("rule"))
