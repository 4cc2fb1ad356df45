"""An ElasticScaler's headroom on a real control plane with Karpenter and kwok: a forecast
peak has placeholders make Karpenter buy nodes before the Deployment scales, and the real
pods start on those nodes without waiting for one, preempting the placeholders.

The ElasticScaler controller runs in this process on a compressed clock (tests/kube/headroom.py:
the forecast needs a day of load), as the shipped ServiceAccount with the shipped RBAC and
PriorityClass; everything else is real and runs in real time.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod

from tests.kube.headroom import CompressedController, PodRecord, placeholders_of
from tests.kube.karpenter import apply, claims_of, pending_workload, pool
from tests.kube.kwok import wait_for
from tidewise.kube.api.kinds import ElasticScalerResource
from tidewise.kube.controllers.headroom import HEADROOM_FOR, placeholder_name
from tidewise.model import Resources

pytestmark = pytest.mark.e2e

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
PEAK_MINUTE = 600  # 10:00 each day, for 100 minutes
POOL = "e2e-headroom"
SELECTOR = {"tidewise.io/node-pool": POOL}
PARKED = {"tidewise.io/e2e-parked": "true"}  # no NodePool offers it: nothing is bought
APP = {"app": "web"}
REQUESTS = Resources(cpu_milli=1500, memory_mib=1024)
LOOKAHEAD_S = 900.0  # the replicas' own lead is startupSeconds 60 + 120


def load(at: datetime) -> float:
    """5 requests/s all day, 40 from 10:00 to 11:40: one replica, then eight."""
    minute = (at - START).total_seconds() // 60 % 1440
    return 40.0 if PEAK_MINUTE <= minute < PEAK_MINUTE + 100 else 5.0


def elastic_scaler() -> dict:
    predictive = {"enabled": True, "loadQuery": "sum(rate(http_requests_total[1m]))"}
    predictive |= {"replicaCapacity": 10, "targetUtilization": 0.5, "startupSeconds": 60}
    up = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 20, "periodSeconds": 15}],
    }
    return {
        "apiVersion": "tidewise.io/v1alpha1",
        "kind": "ElasticScaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "predictive": predictive,
            "behavior": {"scaleUp": up},
            "headroom": {"enabled": True, "lookaheadSeconds": LOOKAHEAD_S},
        },
    }


def running(kube: Client, namespace: str, labels: dict) -> list:
    pods = kube.list(Pod, namespace=namespace, labels=labels)
    return [p for p in pods if p.status.phase == "Running" and p.spec.nodeName]


def unpark(kube: Client, namespace: str) -> None:
    """Point web's pods (and so its placeholders, which copy them) at the test's NodePool."""
    selector = {**dict.fromkeys(PARKED), **SELECTOR}
    body = {"spec": {"template": {"spec": {"nodeSelector": selector}}}}
    kube.patch(Deployment, "web", body, namespace=namespace)


def preempted(kube: Client, namespace: str) -> set[str]:
    """The placeholder pods the scheduler reports it preempted (Event ``Preempted``)."""
    prefix = placeholder_name("web") + "-"
    return {
        e.involvedObject.name
        for e in kube.list(Event, namespace=namespace)
        if e.reason == "Preempted" and e.involvedObject.name.startswith(prefix)
    }


def test_a_forecast_peak_has_karpenter_buy_before_the_deployment_scales(
    kube,
    cluster,
    karpenter,
    catalog,
    crds,
):
    namespace = karpenter
    apply(kube, pool(POOL, ["m6i.large", "m6i.xlarge"], catalog))
    kube.create(pending_workload("web", REQUESTS, PARKED, replicas=1), namespace=namespace)
    scaler = elastic_scaler()
    kube.create(
        ElasticScalerResource(metadata=scaler["metadata"], spec=scaler["spec"]), namespace=namespace
    )
    controller = CompressedController(cluster, kube, namespace, START, load)
    try:
        # a day of load (its peak scales the parked Deployment: nothing is bought) and the next
        # morning up to 16 minutes before the peak, one replica and no placeholders
        controller.advance(1440 + PEAK_MINUTE - 16)
        status = kube.get(ElasticScalerResource, "web", namespace=namespace)["status"]
        assert status["headroom"]["forecastReplicas"] == status["desiredReplicas"] == 1
        assert status["headroom"]["placeholders"] == 0
        assert not claims_of(kube, POOL)
        unpark(kube, namespace)
        wait_for("web's replica on a node", lambda: len(running(kube, namespace, APP)) == 1)
        claims_before = {c.metadata.name for c in claims_of(kube, POOL)}
        first = running(kube, namespace, APP)[0]

        # 15 minutes ahead the forecast sees the peak (40 / 5 = 8 replicas or more): the
        # placeholders fill the gap to it while the Deployment stays at one, and are bought for
        controller.advance()
        status = kube.get(ElasticScalerResource, "web", namespace=namespace)["status"]
        ahead, count = status["headroom"]["forecastReplicas"], status["headroom"]["placeholders"]
        assert status["desiredReplicas"] == 1 and ahead >= 8 and count == ahead - 1
        wait_for(
            "Karpenter to run the placeholders",
            lambda: len(running(kube, namespace, {HEADROOM_FOR: "web"})) == count,
            deadline=180,
        )
        assert {c.metadata.name for c in claims_of(kube, POOL)} - claims_before, "none bought"
        assert kube.get(Deployment, "web", namespace=namespace).spec.replicas == 1
        held_on = {p.spec.nodeName for p in placeholders_of(kube, namespace, "web")}
        time.sleep(2)  # creation stamps are whole seconds: the real pods come strictly later

        # the replicas' own lead (3 minutes) reaches the peak: the Deployment scales
        record = PodRecord(kube, namespace, APP)
        while kube.get(Deployment, "web", namespace=namespace).spec.replicas == 1:
            controller.advance()
        assert controller.at <= START + timedelta(days=1, minutes=PEAK_MINUTE)
        replicas = kube.get(Deployment, "web", namespace=namespace).spec.replicas
        assert replicas >= 8

        def all_running() -> bool:
            record.poll()
            return len(running(kube, namespace, APP)) == replicas

        wait_for("the replicas running", all_running, deadline=120)
        started = [p for p in record.pods.values() if p.name != first.metadata.name]
        assert len(started) >= replicas - 1
        for pod in started:  # on a node that existed before the pod did
            assert pod.node_created is not None and pod.node_created < pod.created, pod
        assert not any(p.waited_for_a_node for p in started)
        assert {p.node for p in started} <= held_on | {first.spec.nodeName}
        wait_for("the scheduler's Preempted events", lambda: bool(preempted(kube, namespace)))

        # the next sync counts the new replicas: the placeholders shrink by as many
        controller.advance()
        status = kube.get(ElasticScalerResource, "web", namespace=namespace)["status"]
        left = max(status["headroom"]["forecastReplicas"] - replicas, 0)
        assert status["headroom"]["placeholders"] == left < count
        held = kube.get(Deployment, placeholder_name("web"), namespace=namespace)
        assert held.spec.replicas == left
        scaler = kube.get(ElasticScalerResource, "web", namespace=namespace)
        assert held.metadata.ownerReferences[0].uid == scaler["metadata"]["uid"]
        told = [
            e.message
            for e in kube.list(Event, namespace=namespace)
            if e.reason == "HeadroomChanged" and e.involvedObject.name == "web"
        ]
        assert any(f"{count} placeholders (was 0)" in m for m in told), told
        assert any(f"{left} placeholders (was {count})" in m for m in told), told
    finally:
        controller.close()
