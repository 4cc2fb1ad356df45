"""The serverless-burst controller's reading of taints, tolerations and selectors (the
decisions are tidewise.capacity.virtual_node's; the API end: test_serverless_burst_e2e.py)."""

from __future__ import annotations

import asyncio
import datetime
import re

import pytest
from lightkube.resources.core_v1 import Event

from tests.kube.controllers.fakes import Wrapped, fresh_metrics
from tidewise.capacity.virtual_node import BurstRules
from tidewise.catalog import builtin_catalog_path, load_catalog, serverless_price_per_hour
from tidewise.kube.controllers.serverless_burst import (
    OPT_IN,
    TOLERATION,
    ServerlessBurstController,
    ServerlessBurstSettings,
)
from tidewise.model import PurchaseOption, Resources
from tidewise.placement.eligibility import may_run_on, tolerates

VIRTUAL_TAINT = {"key": "virtual-kubelet.io/provider", "value": "eci", "effect": "NoSchedule"}
VIRTUAL = {
    "metadata": {"name": "vk", "labels": {"type": "virtual-kubelet"}},
    "spec": {"taints": [VIRTUAL_TAINT]},
}


def test_the_added_toleration_tolerates_any_providers_virtual_taint():
    assert tolerates([TOLERATION], VIRTUAL_TAINT)
    assert tolerates([TOLERATION], {**VIRTUAL_TAINT, "effect": "NoExecute", "value": "aws"})
    assert not tolerates([TOLERATION], {"key": "other", "effect": "NoSchedule"})


def test_a_pod_may_run_on_a_node_its_selector_matches_and_whose_taints_it_tolerates():
    pod = {"spec": {"nodeSelector": {"type": "virtual-kubelet"}, "tolerations": [TOLERATION]}}
    assert may_run_on(pod, VIRTUAL)
    assert not may_run_on({"spec": {"nodeSelector": {"type": "virtual-kubelet"}}}, VIRTUAL)
    assert not may_run_on({"spec": {"nodeSelector": {"pool": "a"}}}, {"metadata": {}})
    soft = {"metadata": {}, "spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}}
    assert may_run_on({"spec": {}}, soft)


class Client:
    """Lists the objects given by kind; records patches and creations (Evictions, Events)."""

    def __init__(self, objects: dict[str, list[dict]]) -> None:
        self.objects = objects
        self.patches: list[tuple[str, dict]] = []
        self.created: list[object] = []

    async def list(self, res, **_):
        for obj in self.objects.get(res._api_info.resource.kind, []):
            yield Wrapped(obj)

    async def patch(self, res, name, body, **_):
        self.patches.append((name, body))

    async def create(self, obj, **_):
        self.created.append(obj)

    def events(self) -> list[tuple[str, str, str]]:
        return [
            (e.involvedObject.name, e.reason, e.message)
            for e in self.created
            if isinstance(e, Event)
        ]


CATALOG = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
SERVERLESS = next(o for o in CATALOG.offerings if o.option is PurchaseOption.SERVERLESS)
VMS = tuple(
    o for o in CATALOG.offerings if o.instance_type.name == "m6i.large" and o.option.value == "spot"
)


def stamp(seconds_ago: float) -> str:
    """An API time ``seconds_ago`` before now (the controller reads the wall clock)."""
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def web_pod(name, node=None, age_s=60.0, opted="true", ran_s=None, tolerations=()):
    owner = {"kind": "ReplicaSet", "name": "web", "uid": "rs-web", "controller": True}
    meta = {
        "name": name,
        "namespace": "a",
        "uid": name,
        "labels": {"app": "web"},
        "annotations": {OPT_IN: opted},
        "creationTimestamp": stamp(age_s),
        "resourceVersion": "7",
        "ownerReferences": [owner],
    }
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "600m", "memory": "512Mi"}}}],
        "tolerations": list(tolerations),
    }
    if node is None:
        status = {"phase": "Pending", "conditions": [UNSCHEDULABLE]}
    else:
        spec["nodeName"] = node
        status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        status["startTime"] = stamp(ran_s if ran_s is not None else age_s)
    return {"metadata": meta, "spec": spec, "status": status}


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
READY_VM = {
    "metadata": {"name": "vm", "labels": {}},
    "spec": {},
    "status": {
        "allocatable": {"cpu": "2", "memory": "8Gi"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}
BUDGET = {
    "metadata": {"name": "web", "namespace": "a"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}},
    "status": {"disruptionsAllowed": 1},
}


def controller(objects, bound_s=30.0) -> tuple[ServerlessBurstController, Client]:
    client = Client(objects)
    settings = ServerlessBurstSettings(BurstRules(bound_s=bound_s), SERVERLESS, VMS, 1.0)
    return ServerlessBurstController(client, fresh_metrics(), settings), client


def test_a_pod_past_the_bound_gets_the_toleration_added_and_is_told():
    pods = [
        web_pod("due", age_s=31),
        web_pod("early", age_s=20),
        web_pod("out", age_s=99, opted="false"),
        web_pod("done", age_s=99, tolerations=[TOLERATION]),  # already sent
    ]
    burst, client = controller({"Node": [VIRTUAL], "Pod": pods})
    asyncio.run(burst.sync())
    assert client.patches == [
        ("due", {"metadata": {"resourceVersion": "7"}, "spec": {"tolerations": [TOLERATION]}})
    ]
    price = serverless_price_per_hour(SERVERLESS, Resources(cpu_milli=600, memory_mib=512))
    ((name, reason, message),) = client.events()
    assert (name, reason) == ("due", "BurstToVirtualNode")
    waited = int(re.search(r"pending (\d+) s \(bound 30 s\)", message).group(1))
    assert 31 <= waited <= 33  # stamps are whole seconds; the test takes a moment
    assert f"${price:.6f}/h" in message


def test_without_a_virtual_node_nothing_is_read_but_the_nodes():
    burst, client = controller({"Pod": [web_pod("due", age_s=99)]})
    asyncio.run(burst.sync())
    assert client.patches == [] and client.created == []


def test_a_pod_moves_back_to_a_vm_with_room_through_an_eviction_with_its_cost():
    on_virtual = [
        web_pod("old", node="vk", ran_s=120, tolerations=[TOLERATION]),
        web_pod("new", node="vk", ran_s=10, tolerations=[TOLERATION]),
    ]
    objects = {"Node": [VIRTUAL, READY_VM], "Pod": on_virtual, "PodDisruptionBudget": [BUDGET]}
    burst, client = controller(objects)
    asyncio.run(burst.sync())
    evictions = [c for c in client.created if not isinstance(c, Event)]
    assert [e.metadata.name for e in evictions] == ["old"]  # one, the longest there
    ((name, reason, message),) = client.events()
    price = serverless_price_per_hour(SERVERLESS, Resources(cpu_milli=600, memory_mib=512))
    assert (name, reason) == ("old", "MovedBackToVM")
    assert "node vm has room" in message
    found = re.search(r"ran (\d+) pod-seconds on virtual node vk, \$([\d.]+) at", message)
    seconds, usd = int(found.group(1)), float(found.group(2))
    assert 120 <= seconds <= 122
    assert usd == pytest.approx(price * seconds / 3600, abs=3e-6)  # printed to the micro-dollar


def test_no_move_past_the_budget_nor_while_a_replica_is_in_flight():
    on_virtual = [web_pod("old", node="vk", ran_s=120, tolerations=[TOLERATION])]
    spent = {**BUDGET, "status": {"disruptionsAllowed": 0}}
    objects = {"Node": [VIRTUAL, READY_VM], "Pod": on_virtual, "PodDisruptionBudget": [spent]}
    burst, client = controller(objects)
    asyncio.run(burst.sync())
    assert client.created == []
    pending = web_pod("replacement", age_s=5)  # not yet past the bound: no burst either
    objects = {"Node": [VIRTUAL, READY_VM], "Pod": [*on_virtual, pending]}
    objects["PodDisruptionBudget"] = [BUDGET]
    burst, client = controller(objects)
    asyncio.run(burst.sync())
    assert client.created == [] and client.patches == []
