"""The controller's pass over one node, against an in-memory API: what it publishes in the
node's status, the peak it keeps on the Node, the Events it posts, and which pods it evicts
(batch ones only, checkpointable first, never one already going)."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from lightkube.resources.core_v1 import Node, Pod

from tests.kube.controllers.fakes import Wrapped, fresh_metrics
from tidewise.kube.colocation.batch import CHECKPOINTABLE, QOS
from tidewise.kube.colocation.controller import ColocationController, material
from tidewise.kube.colocation.peak import ANNOTATION
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.kube.colocation.usage import PodUsage
from tidewise.model import Resources

NODE = "n1"
CPU, MEMORY = "tidewise.io/batch-cpu", "tidewise.io/batch-memory"


@dataclass
class Api:
    node: dict[str, Any]
    pods: list[dict[str, Any]]
    patches: list[tuple[str, dict]] = field(default_factory=list)  # (subresource, body)
    evicted: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, name, reason

    async def list(self, res: Any, **_: Any) -> AsyncIterator[Wrapped]:
        for obj in [self.node] if res is Node else self.pods:
            yield Wrapped(obj)

    async def patch(self, res: Any, name: str, body: dict, **_: Any) -> None:
        assert name == NODE
        self.patches.append(("status" if res is Node.Status else "", body))

    async def create(self, obj: Any, name: str | None = None, **_: Any) -> None:
        if isinstance(obj, Pod.Eviction):
            self.evicted.append(obj.metadata.name)
            return
        told = obj.involvedObject
        self.events.append((told.kind, told.name, obj.reason, obj.message))


def pod(name: str, cpu: str, memory: str, batch: bool = False, **extra: Any) -> dict:
    requests = {CPU: cpu, MEMORY: memory} if batch else {"cpu": cpu, "memory": memory}
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {}, "annotations": {}}
    if batch:
        meta["labels"][QOS] = "batch"
    meta |= extra.pop("meta", {})
    status = {"phase": "Running", **extra.pop("status", {})}
    spec = {"nodeName": NODE, "containers": [{"name": "c", "resources": {"requests": requests}}]}
    return {"metadata": meta, "spec": spec, "status": status}


def node(allocatable: dict | None = None, annotations: dict | None = None) -> dict:
    meta = {"name": NODE, "uid": "u-n1", "annotations": annotations or {}}
    listed = allocatable or {}
    return {"metadata": meta, "status": {"allocatable": listed, "capacity": dict(listed)}}


def controller(api: Api, now: float = 1000.0) -> ColocationController:
    settings = ColocationSettings("http://p:9090", cert=None, key=None, window_s=60.0)  # type: ignore[arg-type]
    return ColocationController(api, fresh_metrics(), settings, clock=lambda: now)  # type: ignore[arg-type]


def usage(**pods: tuple[int | None, int | None]) -> PodUsage:
    """Each pod's milli-CPU and MiB (``None``: no sample of it)."""
    cpu = {("ns", n): c for n, (c, _) in pods.items() if c is not None}
    return PodUsage(cpu, {("ns", n): m for n, (_, m) in pods.items() if m is not None})


def status_patch(api: Api) -> dict:
    (body,) = [b for kind, b in api.patches if kind == "status"]
    return body["status"]


def test_a_node_lends_what_online_pods_asked_and_left_idle_with_the_margin():
    api = Api(node(), [pod("web-1", "2", "4Gi"), pod("web-2", "1", "2Gi")])
    pass_ = controller(api).reconcile(
        api.node, api.pods, usage(**{"web-1": (400, 1024), "web-2": (200, 1024)})
    )
    asyncio.run(pass_)
    # 3000m and 6144Mi asked, 600m and 2048Mi used: 3000 - 750, 6144 - 2560
    lent = {CPU: "2250", MEMORY: str(3584 * 2**20)}
    assert status_patch(api) == {"capacity": lent, "allocatable": lent}
    (annotation,) = [b for kind, b in api.patches if kind == ""]
    peak = json.loads(annotation["metadata"]["annotations"][ANNOTATION])
    assert peak == [[1000.0, 600, 2048]]
    assert api.events == [
        (
            "Node",
            NODE,
            "BatchResourcesChanged",
            "batch resources now 2250m CPU, 3584Mi memory (was none)",
        )
    ]
    assert api.evicted == []


def test_an_unmeasured_online_pod_counts_as_using_all_it_asked_of_what_is_unmeasured():
    api = Api(node(), [pod("web-1", "2", "4Gi"), pod("web-2", "1", "2Gi")])
    asyncio.run(controller(api).reconcile(api.node, api.pods, usage(**{"web-1": (400, 1024)})))
    # web-2 unmeasured: 1400m and 3072Mi used; 3000 - 1750, 6144 - 3840
    assert status_patch(api)["allocatable"] == {CPU: "1250", MEMORY: str(2304 * 2**20)}
    # a CPU rate needs two scrapes: memory measured first, the CPU still counts as asked
    api = Api(node(), [pod("web-1", "2", "4Gi")])
    asyncio.run(controller(api).reconcile(api.node, api.pods, usage(**{"web-1": (None, 1024)})))
    assert status_patch(api)["allocatable"] == {CPU: "0", MEMORY: str(2816 * 2**20)}


def test_the_peak_on_the_node_holds_the_lent_capacity_down_after_usage_falls():
    earlier = json.dumps([[990.0, 2000, 2048]])  # the peak a previous leader wrote
    api = Api(node(annotations={ANNOTATION: earlier}), [pod("web-1", "3", "6Gi")])
    asyncio.run(controller(api).reconcile(api.node, api.pods, usage(**{"web-1": (600, 2048)})))
    assert status_patch(api)["allocatable"][CPU] == "500"  # 3000 - 2000 * 1.25


def test_an_unchanged_figure_is_not_written_and_a_small_change_is_not_told():
    lent = {CPU: "2250", MEMORY: "3584Mi"}  # the API server's canonical form of the bytes
    quiet = node(lent, {ANNOTATION: json.dumps([[1000.0, 600, 2048]])})
    api = Api(quiet, [pod("web-1", "2", "4Gi"), pod("web-2", "1", "2Gi")])
    seen = usage(**{"web-1": (400, 1024), "web-2": (200, 1024)})
    asyncio.run(controller(api).reconcile(api.node, api.pods, seen))
    assert api.patches == [] and api.events == []
    assert not material(Resources(2250, 3584), Resources(2100, 3584), 0.1)
    assert material(Resources(2250, 3584), Resources(2000, 3584), 0.1)
    assert material(Resources(0, 3584), Resources(1, 3584), 0.1)
    assert material(None, Resources(0, 0), 0.1)


def test_online_load_evicts_the_checkpointable_batch_pod_first_and_never_an_online_one():
    gib2 = str(2 * 2**30)
    checkpoints = {"annotations": {CHECKPOINTABLE: "true"}}
    pods = [
        pod("web-1", "3", "8Gi"),
        *(
            pod(name, "1000", gib2, batch=True, meta=meta, status={"startTime": started})
            for name, meta, started in (
                ("train", checkpoints, "2026-01-01T00:00:00Z"),
                ("spark-old", {}, "2026-01-01T00:01:00Z"),
                ("spark-new", {}, "2026-01-01T00:02:00Z"),
                ("going", {"deletionTimestamp": "2026-01-01T00:03:00Z"}, "2026-01-01T00:02:30Z"),
            )
        ),
    ]
    api = Api(node(), pods)
    # 3000m asked, 1000m used now: room 3000 - 1100 = 1900m for 3000m of batch
    asyncio.run(controller(api).reconcile(api.node, api.pods, usage(**{"web-1": (1000, 1024)})))
    assert api.evicted == ["train", "spark-new"]
    told = [
        (kind, name, reason)
        for kind, name, reason, _ in api.events
        if reason != "BatchResourcesChanged"
    ]
    assert told == [
        ("Pod", "train", "EvictedForOnlineLoad"),
        ("Node", NODE, "EvictedForOnlineLoad"),
        ("Pod", "spark-new", "EvictedForOnlineLoad"),
        ("Node", NODE, "EvictedForOnlineLoad"),
    ]
    message = api.events[-1][3]
    assert message == (
        "online usage on node n1 rose to 1000m CPU, 1024Mi memory of 3000m CPU, 8192Mi memory "
        "requested: batch pod ns/spark-new evicted"
    )


def test_a_pass_lends_nothing_on_a_virtual_node(monkeypatch):
    """Serverless containers behind a virtual node have no idle requests to lend."""
    virtual = node()
    virtual["spec"] = {"taints": [{"key": "virtual-kubelet.io/provider", "effect": "NoSchedule"}]}
    api = Api(virtual, [pod("web-1", "2", "4Gi")])

    async def measured(*_: object) -> PodUsage:
        return usage(**{"web-1": (100, 100)})

    monkeypatch.setattr("tidewise.kube.colocation.controller.pod_usage", measured)
    asyncio.run(controller(api).sync())
    assert api.patches == [] and api.events == []
    del virtual["spec"]
    asyncio.run(controller(api).sync())
    assert status_patch(api)["allocatable"][CPU] == "1875"  # 2000 - 100 * 1.25
