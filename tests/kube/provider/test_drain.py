"""Draining a node, as Karpenter's termination and cluster-autoscaler's scale-down do it: a
refused eviction (a PodDisruptionBudget) is asked again with a growing delay and told once,
never in a hot loop; the drain has a deadline from when it first began (written on the node,
so a restart keeps it); at the deadline a voluntary drain gives up and uncordons the node
(cluster-autoscaler), an involuntary one deletes what is left (Karpenter's
terminationGracePeriod); a pod stuck terminating past its grace is not waited for."""

import asyncio
import datetime

from prometheus_client import CollectorRegistry

from tests.kube.provider.fakes import Clock, FakeApi, bound_pod
from tidewise.kube.api.status import stamp
from tidewise.kube.provider.drain import DRAINING, DRAINING_SINCE, Drainer, Outcome
from tidewise.kube.provider.metrics import ProvisionerMetrics

NODE = "n1"


def cluster(*pods, annotations=None):
    api = FakeApi()
    meta = {"name": NODE, "labels": {"tidewise.io/provisioner": "kwok"}}
    meta["annotations"] = dict(annotations or {})
    api.add("Node", {"metadata": meta, "spec": {}, "status": {}})
    for pod in pods:
        api.add("Pod", pod)
    return api


def drainer(api, clock, registry=None):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.s += seconds

    metrics = ProvisionerMetrics(registry or CollectorRegistry())
    made = Drainer(api, timeout_s=600, clock=clock, sleep=sleep, metrics=metrics)
    return made, slept


def evictions(api) -> int:
    return sum(1 for verb, _, _ in api.calls if verb == "evict")


def at(seconds: float) -> str:
    return stamp(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


def run(drain):
    return asyncio.run(asyncio.wait_for(drain, timeout=10))


def test_a_voluntary_drain_a_budget_refuses_backs_off_tells_once_and_gives_up_in_time():
    api, clock, registry = cluster(bound_pod("a", NODE), bound_pod("b", NODE)), Clock(), None
    registry = CollectorRegistry()
    api.budget_blocks = {"a", "b"}
    made, slept = drainer(api, clock, registry)
    outcome = run(made.drain(NODE, "underutilized", voluntary=True))
    assert outcome is Outcome.ABORTED
    assert 600 <= clock.s - 1000 < 615, "the drain outlived its timeout"
    assert max(slept) == 10.0 and slept[0] < 1, "no growing delay between refused evictions"
    assert evictions(api) <= 2 * (600 / 10 + 10), "refused evictions asked in a hot loop"
    told = api.events("FailedDraining")
    assert 1 <= len(told) <= 3 and "2 pods" in told[0]["message"]
    (gave_up,) = api.events("ScaleDownFailed")
    assert "600 s" in gave_up["message"]
    node = api.body("Node", NODE)
    assert not node["spec"].get("unschedulable"), "a drain that gave up left the node cordoned"
    assert DRAINING not in node["metadata"]["annotations"]
    assert api.names("Pod") == {"a", "b"}
    refused = registry.get_sample_value("tidewise_evictions_total", {"outcome": "refused"})
    assert refused == evictions(api)
    assert registry.get_sample_value("tidewise_drains_total", {"outcome": "aborted"}) == 1


def test_an_involuntary_drain_deletes_what_the_budget_still_holds_at_the_deadline():
    api, clock = cluster(bound_pod("a", NODE), bound_pod("b", NODE)), Clock()
    api.budget_blocks = {"a"}
    made, _ = drainer(api, clock)
    outcome = run(made.drain(NODE, "interruption notice", voluntary=False))
    assert outcome is Outcome.FORCED
    assert ("evict", "Pod", "b") in api.calls and ("delete", "Pod", "a") in api.calls
    assert not api.names("Pod")
    (forced,) = api.events("DrainForced")
    assert "a" in forced["message"]
    assert api.body("Node", NODE)["spec"]["unschedulable"] is True


def test_a_resumed_drain_keeps_the_deadline_of_its_first_start():
    began = {DRAINING: "underutilized", DRAINING_SINCE: at(1000.0 - 500)}
    api, clock = cluster(bound_pod("a", NODE), annotations=began), Clock()
    api.budget_blocks = {"a"}
    made, _ = drainer(api, clock)
    assert run(made.drain(NODE, "underutilized", voluntary=True)) is Outcome.ABORTED
    assert clock.s - 1000 < 115, "a restart gave the drain a new timeout"


def test_a_pod_stuck_terminating_past_its_grace_is_not_waited_for():
    gone = at(1000.0 - 61)  # deletionTimestamp is the end of its grace period
    stuck = bound_pod("stuck", NODE, deletionTimestamp=gone)
    api, clock = cluster(stuck), Clock()
    made, slept = drainer(api, clock)
    assert run(made.drain(NODE, "not ready", voluntary=False)) is Outcome.DRAINED
    assert slept == [] and evictions(api) == 0


def test_a_voluntary_drain_stops_at_once_for_a_pod_that_must_not_be_disrupted():
    keep = bound_pod("keep", NODE, annotations={"karpenter.sh/do-not-disrupt": "true"})
    api, clock = cluster(bound_pod("a", NODE), keep), Clock()
    made, _ = drainer(api, clock)
    assert run(made.drain(NODE, "underutilized", voluntary=True)) is Outcome.ABORTED
    assert evictions(api) == 0 and api.names("Pod") == {"a", "keep"}
    (gave_up,) = api.events("ScaleDownFailed")
    assert "keep" in gave_up["message"] and "do-not-disrupt" in gave_up["message"]


def test_a_node_without_a_node_object_has_nothing_to_drain():
    api, clock = FakeApi(), Clock()
    made, _ = drainer(api, clock)
    assert run(made.drain("booting", "never became ready", voluntary=False)) is Outcome.GONE
    assert not api.events()
