"""ResourceRecommendation end to end: usage read from a real Prometheus (cAdvisor's series,
served by the test for a Deployment's pods) becomes per-container targets in status; with
``updateMode: OnRollout`` the requests go into the template only when someone else rolls
the Deployment out."""

import time

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tests.kube.controllers.support import parked_deployment
from tests.kube.kwok import wait_for
from tidewise.kube.controllers.pods import milli
from tidewise.kube.controllers.resources import ResourceRecommendationResource

pytestmark = pytest.mark.e2e

CORES = 0.2  # each pod's container uses 200m
MEMORY_MIB = 300
# the default query's rate over [1m] is extrapolated to the whole minute while a series is
# younger than that (cAdvisor's series in a real cluster are old): the test's are seconds old
CPU_QUERY = (
    'sum by (pod, container) (irate(container_cpu_usage_seconds_total{namespace="$namespace", '
    'pod=~"$pods"}[10s]))'
)


class Cadvisor(Collector):
    """The kubelet's cAdvisor series for ``pods``: CPU seconds growing at ``CORES`` a second,
    a constant working set."""

    def __init__(self, namespace: str, pods: list[str]) -> None:
        self.namespace, self.pods, self.start = namespace, pods, time.time()

    def collect(self):
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds", "CPU seconds", labels=["namespace", "pod", "container"]
        )
        memory = GaugeMetricFamily(
            "container_memory_working_set_bytes", "memory", labels=["namespace", "pod", "container"]
        )
        for pod in self.pods:
            labels = [self.namespace, pod, "main"]
            cpu.add_metric(labels, CORES * (time.time() - self.start))
            memory.add_metric(labels, MEMORY_MIB * 2**20)
        yield cpu
        yield memory


def recommendation(name: str, target: str, url: str) -> ResourceRecommendationResource:
    spec = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "updateMode": "OnRollout",
        "prometheus": {"url": url, "cpuQuery": CPU_QUERY},
    }
    return ResourceRecommendationResource(metadata={"name": name}, spec=spec)


def status(kube: Client, namespace: str, name: str) -> dict:
    return kube.get(ResourceRecommendationResource, name, namespace=namespace).status or {}


def targets(kube: Client, namespace: str, name: str) -> dict | None:
    found = (status(kube, namespace, name).get("recommendation") or {}).get(
        "containerRecommendations"
    )
    return found[0]["target"] if found else None


def test_usage_becomes_targets_applied_on_the_next_rollout(
    kube, operator_factory, provisioned, prometheus
):
    namespace = provisioned
    kube.create(parked_deployment("web", 2), namespace=namespace)
    wait_for("2 pods", lambda: len(list(kube.list(Pod, namespace=namespace))) == 2)
    pods = [p.metadata.name for p in kube.list(Pod, namespace=namespace)]
    prometheus.registry.register(Cadvisor(namespace, pods))
    operator_factory("--recommend-period", "1", "--prometheus-url", prometheus.url)
    kube.create(recommendation("web", "web", prometheus.url), namespace=namespace)
    kube.create(recommendation("ghost", "nowhere", prometheus.url), namespace=namespace)

    wait_for("a recommendation", lambda: targets(kube, namespace, "web") is not None, 120)
    target = targets(kube, namespace, "web")
    # VPA's target: the 90th percentile plus a 15 % margin, on 5 %-wide buckets
    assert CORES * 1000 * 1.15 <= milli(target["cpu"]) <= CORES * 1000 * 1.15 * 1.1, target
    memory_mib = milli(target["memory"]) / 1000 / 2**20
    assert MEMORY_MIB * 1.15 <= memory_mib <= MEMORY_MIB * 1.15 * 1.1, target
    found = status(kube, namespace, "web")
    assert {c["type"]: c["status"] for c in found["conditions"]} == {
        "Ready": "True",
        "UsageAvailable": "True",
        "RecommendationProvided": "True",
    }

    # OnRollout never rolls out by itself...
    deployment = kube.get(Deployment, "web", namespace=namespace)
    assert deployment.metadata.generation == 1
    assert not deployment.spec.template.spec.containers[0].resources.requests
    # ...but rides the next one
    patch = {"spec": {"template": {"metadata": {"annotations": {"release": "2"}}}}}
    kube.patch(Deployment, "web", patch, namespace=namespace)

    def requests() -> dict | None:
        container = kube.get(Deployment, "web", namespace=namespace).spec.template.spec
        return container.containers[0].resources.requests

    wait_for("the requests set on the rollout", lambda: bool(requests()), 60)
    assert set(requests()) == {"cpu", "memory"}
    assert kube.get(Deployment, "web", namespace=namespace).metadata.generation == 3
    time.sleep(3)  # and it does not chase its own change
    assert kube.get(Deployment, "web", namespace=namespace).metadata.generation == 3

    told = kube.list(Event, namespace=namespace, fields={"involvedObject.name": "web"})
    assert "RequestsApplied" in {e.reason for e in told}

    ghost = {c["type"]: c for c in status(kube, namespace, "ghost")["conditions"]}
    assert ghost["Ready"]["status"] == "False" and ghost["Ready"]["reason"] == "TargetNotFound"
