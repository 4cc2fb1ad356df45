"""The Karpenter controller's passes against an in-memory API (end to end against the real
Karpenter: tests/kube/test_karpenter_e2e.py): what it applies and how, what it deletes, the
running count that drops a commitment, and the Events it tells."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lightkube.types import PatchType
from prometheus_client import CollectorRegistry

from tests.kube.controllers.fakes import Wrapped
from tidewise.capacity.karpenter import NodeClassRef, render
from tidewise.cli.sim import default_scenario_path
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.controllers.karpenter import (
    FIELD_MANAGER,
    KarpenterController,
    on_demand_counts,
    rejection,
)
from tidewise.sim.services.karpenter import karpenter_policy
from tidewise.sim.services.scenario import load_scenario

KWOK_CLASS = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
MANAGED = {"app.kubernetes.io/managed-by": "tidewise"}
COMMITTED = "m6i.xlarge"  # the bundled scenario's floor: one m6i.xlarge, 40 % off
COMMITMENT = f"tidewise-commitment-{COMMITTED}"


def node(name: str, instance_type: str, capacity_type: str) -> dict[str, Any]:
    labels = {"node.kubernetes.io/instance-type": instance_type}
    labels["karpenter.sh/capacity-type"] = capacity_type
    return {"metadata": {"name": name, "labels": labels}}


class FakeApi:
    """Nodes, and NodePools and NodeOverlays kept as server-side apply leaves them: an apply
    that changes nothing keeps the resourceVersion; labels select on list."""

    def __init__(self, nodes: list[dict[str, Any]] | None = None) -> None:
        self.nodes = nodes or []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.patches: list[tuple[str, str, Any, str | None, bool]] = []
        self.deleted: list[tuple[str, str]] = []
        self.events: list[Any] = []
        self.version = 0

    def put(self, obj: dict[str, Any]) -> None:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"] |= {"resourceVersion": str(self.version), "uid": f"uid-{self.version}"}
        self.objects[obj["kind"], obj["metadata"]["name"]] = stored

    async def list(self, res: Any, labels: dict[str, str] | None = None) -> AsyncIterator[Wrapped]:
        kind = res._api_info.resource.kind
        if kind == "Node":
            for found in self.nodes:
                yield Wrapped(found)
            return
        for (stored_kind, _), obj in list(self.objects.items()):
            mine = obj["metadata"].get("labels") or {}
            if stored_kind == kind and all(mine.get(k) == v for k, v in (labels or {}).items()):
                yield Wrapped(copy.deepcopy(obj))

    async def patch(self, res, name, obj, *, patch_type, field_manager=None, force=False):
        kind = res._api_info.resource.kind
        self.patches.append((kind, name, patch_type, field_manager, force))
        before = self.objects.get((kind, name))
        if (
            before is None
            or any(before.get(part) != obj.get(part) for part in ("spec", "apiVersion"))
            or any(
                before["metadata"].get(f) != obj["metadata"].get(f)
                for f in ("labels", "annotations")
            )
        ):
            status = (before or {}).get("status")
            self.put(obj)
            if status is not None:
                self.objects[kind, name]["status"] = status
        return Wrapped(copy.deepcopy(self.objects[kind, name]))

    async def delete(self, res, name):
        kind = res._api_info.resource.kind
        self.deleted.append((kind, name))
        del self.objects[kind, name]

    async def create(self, posted):
        self.events.append(posted)

    def told(self) -> list[tuple[str, str, str]]:
        """(reason, kind, name) of the Events posted so far; clears them."""
        said = [(e.reason, e.involvedObject.kind, e.involvedObject.name) for e in self.events]
        self.events.clear()
        return said


@pytest.fixture(scope="module")
def policy():
    scenario, base = load_scenario(default_scenario_path())
    return karpenter_policy(scenario, base, KWOK_CLASS)


def controller(api: FakeApi, policy) -> KarpenterController:
    return KarpenterController(api, ControllerMetrics(CollectorRegistry()), policy, period_s=7.0)


def names(api: FakeApi) -> set[tuple[str, str]]:
    return set(api.objects)


def test_on_demand_nodes_are_counted_by_type_whoever_launched_them():
    nodes = [
        node("a", "m6i.xlarge", "on-demand"),
        node("b", "m6i.xlarge", "on-demand"),
        node("c", "m6i.xlarge", "spot"),
        node("d", "c6i.2xlarge", "on-demand"),
        {"metadata": {"name": "bare", "labels": {"karpenter.sh/capacity-type": "on-demand"}}},
    ]
    assert on_demand_counts(nodes) == {"m6i.xlarge": 2, "c6i.2xlarge": 1}


def test_a_first_pass_applies_the_whole_render_server_side_and_says_so(policy):
    api = FakeApi()
    wait = asyncio.run(controller(api, policy).sync())
    rendered = render(policy)
    assert wait == 7.0
    assert names(api) == {(o["kind"], o["metadata"]["name"]) for o in rendered}
    assert COMMITMENT in {name for _, name in names(api)}
    assert {(p[2], p[3], p[4]) for p in api.patches} == {(PatchType.APPLY, FIELD_MANAGER, True)}
    for obj in rendered:  # exactly what the render says, labelled as tidewise's
        stored = api.objects[obj["kind"], obj["metadata"]["name"]]
        assert stored["spec"] == obj["spec"] and stored["metadata"]["labels"] == MANAGED
    told = api.told()
    assert sorted(told) == sorted(("Applied", o["kind"], o["metadata"]["name"]) for o in rendered)


def test_a_pass_that_changes_nothing_writes_no_change_and_tells_nothing(policy):
    api = FakeApi()
    ctl = controller(api, policy)
    asyncio.run(ctl.sync())
    versions = {k: o["metadata"]["resourceVersion"] for k, o in api.objects.items()}
    api.told()
    asyncio.run(ctl.sync())
    assert {k: o["metadata"]["resourceVersion"] for k, o in api.objects.items()} == versions
    assert api.told() == [] and api.deleted == []


def test_the_commitment_overlay_goes_once_its_coverage_runs_and_comes_back_when_it_does_not(
    policy,
):
    api = FakeApi([node("spot", COMMITTED, "spot"), node("other", "c6i.2xlarge", "on-demand")])
    ctl = controller(api, policy)
    asyncio.run(ctl.sync())
    assert ("NodeOverlay", COMMITMENT) in api.objects, "spot and other types cover nothing"
    api.told()
    api.nodes.append(node("covered", COMMITTED, "on-demand"))
    asyncio.run(ctl.sync())
    assert api.deleted == [("NodeOverlay", COMMITMENT)]
    assert api.told() == [("Deleted", "NodeOverlay", COMMITMENT)]
    api.nodes.pop()  # the covered node went: the discount applies again
    asyncio.run(ctl.sync())
    assert ("NodeOverlay", COMMITMENT) in api.objects
    assert api.told() == [("Applied", "NodeOverlay", COMMITMENT)]


def test_managed_objects_no_longer_rendered_are_deleted_and_others_are_left(policy):
    api = FakeApi()
    api.put(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "retired", "labels": dict(MANAGED)},
            "spec": {},
        }
    )
    api.put(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "users-own", "labels": {"team": "a"}},
            "spec": {},
        }
    )
    asyncio.run(controller(api, policy).sync())
    assert api.deleted == [("NodePool", "retired")]
    assert ("NodePool", "users-own") in api.objects
    assert ("Deleted", "NodePool", "retired") in api.told()


def test_a_changed_policy_updates_the_objects_it_changes(policy):
    api = FakeApi()
    asyncio.run(controller(api, policy).sync())
    api.told()
    pools = tuple(
        dataclasses.replace(p, instance_types=(*p.instance_types, "m6i.4xlarge"))
        if p.name == "general"
        else p
        for p in policy.pools
    )
    asyncio.run(controller(api, dataclasses.replace(policy, pools=pools)).sync())
    told = api.told()
    assert ("Updated", "NodePool", "general") in told
    assert ("Updated", "NodePool", "gpu") not in told
    requirement = api.objects["NodePool", "general"]["spec"]["template"]["spec"]["requirements"][0]
    assert "m6i.4xlarge" in requirement["values"]


def test_an_overlay_karpenter_refused_is_a_warning_once_per_change(policy):
    api = FakeApi()
    ctl = controller(api, policy)
    asyncio.run(ctl.sync())
    api.told()
    refused = {"type": "ValidationSucceeded", "status": "False", "message": "conflicts with x"}
    api.objects["NodeOverlay", COMMITMENT]["status"] = {"conditions": [refused]}
    assert rejection(api.objects["NodeOverlay", COMMITMENT]) == "conflicts with x"
    asyncio.run(ctl.sync())
    warnings = [e for e in api.events if e.type == "Warning"]
    assert [(e.reason, e.involvedObject.name) for e in warnings] == [
        ("OverlayNotApplied", COMMITMENT)
    ]
    assert "conflicts with x" in warnings[0].message
    api.told()
    asyncio.run(ctl.sync())
    assert api.told() == [], "told once per change"
    ctl.forget()  # a new term tells again: the warning is not state that must survive
    asyncio.run(ctl.sync())
    assert api.told() == [("OverlayNotApplied", "NodeOverlay", COMMITMENT)]


def test_events_about_the_cluster_scoped_objects_go_to_default_with_their_uid(policy):
    api = FakeApi()
    asyncio.run(controller(api, policy).sync())
    event = next(e for e in api.events if e.involvedObject.name == COMMITMENT)
    assert event.metadata.namespace == "default"
    assert event.involvedObject.uid == api.objects["NodeOverlay", COMMITMENT]["metadata"]["uid"]
    assert event.involvedObject.apiVersion == "karpenter.sh/v1alpha1"
    assert "1 committed, 0 in use" in event.message
    assert event.source.component == "tidewise-operator"
