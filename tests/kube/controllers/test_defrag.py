"""The defragmenter's reading of the cluster: which pods wait, which may move, which budgets
cover them, and the snapshot the plan is made on (the plan itself: tests/placement)."""

import asyncio

import pytest
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status

from tests.kube.controllers.fakes import Wrapped, fresh_metrics
from tidewise.kube.api.annotations import GPU_INDEX
from tidewise.kube.api.reservation import RESERVATION, GpuReservation, reservation_of
from tidewise.kube.api.resources import GPU_COUNT, GPU_MEM, HAMI_GPU_CORES, pod_request
from tidewise.kube.controllers.defrag import (
    DO_NOT_DISRUPT,
    RESERVE_S,
    DefragController,
    movable,
    selects,
    snapshot,
    waits_for_whole_gpus,
)
from tidewise.placement.defrag import plan_defrag

HALF = {HAMI_GPU_CORES: "50", GPU_MEM: "8", "cpu": "500m", "memory": "1Gi"}
WHOLE = {GPU_COUNT: "1", "cpu": "1", "memory": "1Gi"}
OWNER = [{"kind": "ReplicaSet", "name": "rs", "controller": True}]


def pod(name, requests, node=None, gpus=None, labels=None, owners=OWNER, annotations=None):
    meta = {"name": name, "namespace": "ns", "uid": name, "labels": labels or {}}
    meta["ownerReferences"] = owners
    meta["annotations"] = dict(annotations or {})
    if gpus is not None:
        meta["annotations"][GPU_INDEX] = ",".join(map(str, gpus))
    container = {"name": "main", "resources": {"requests": requests}}
    spec = {"containers": [container], "nodeSelector": {"pool": "gpu"}}
    status = {"phase": "Running"}
    if node:
        spec["nodeName"] = node
    else:
        status = {"phase": "Pending", "conditions": [unschedulable()]}
    return {"metadata": meta, "spec": spec, "status": status}


def unschedulable():
    return {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


def node(name, gpus=2, pool="gpu"):
    allocatable = {"cpu": "16", "memory": "64Gi", GPU_COUNT: str(gpus), GPU_MEM: str(24 * gpus)}
    return {
        "metadata": {"name": name, "labels": {"pool": pool}},
        "status": {"allocatable": allocatable},
    }


def pdb(name, selector, allowed):
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"selector": selector},
        "status": {"disruptionsAllowed": allowed},
    }


def test_only_unschedulable_whole_gpu_pods_wait():
    assert waits_for_whole_gpus(pod("job", WHOLE))
    assert not waits_for_whole_gpus(pod("share", HALF))
    assert not waits_for_whole_gpus(pod("bound", WHOLE, node="n0", gpus=(0,)))
    fresh = pod("fresh", WHOLE)
    fresh["status"] = {"phase": "Pending"}  # the scheduler has not tried it yet
    assert not waits_for_whole_gpus(fresh)


def test_movable_pods_have_a_controller_and_no_do_not_disrupt():
    assert movable(pod("a", HALF, "n0", (0,)))
    assert not movable(pod("bare", HALF, "n0", (0,), owners=[]))
    assert not movable(pod("pinned", HALF, "n0", (0,), annotations={DO_NOT_DISRUPT: "true"}))
    daemon = [{"kind": "DaemonSet", "name": "d", "controller": True}]
    assert not movable(pod("daemon", HALF, "n0", (0,), owners=daemon))
    leaving = pod("leaving", HALF, "n0", (0,))
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not movable(leaving)


def test_selectors_match_labels_and_expressions():
    labels = {"app": "web", "tier": "gpu"}
    assert selects({"matchLabels": {"app": "web"}}, labels)
    assert not selects({"matchLabels": {"app": "batch"}}, labels)
    assert selects(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]}, labels
    )
    assert not selects(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gpu"]}]}, labels
    )
    assert not selects({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)
    assert selects({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels)
    assert selects({}, labels)  # policy/v1: an empty selector selects every pod


def test_snapshot_and_plan_respect_the_node_selector_and_the_budgets():
    waiting = pod("job", WHOLE)
    nodes = [node("n0"), node("n1"), node("cpu", gpus=0, pool="cpu")]
    pods = [
        pod("web-0", HALF, "n0", (0,), {"app": "web"}),
        pod("batch-0", HALF, "n0", (1,), {"app": "batch"}),
        pod("held-0", WHOLE, "n1", (0,)),
        pod("pinned", HALF, "n1", (1,), annotations={DO_NOT_DISRUPT: "true"}),
        pod("elsewhere", HALF, "cpu"),  # on a node the job's selector excludes
    ]
    budgets = [pdb("web", {"matchLabels": {"app": "web"}}, 0)]
    budgets.append(pdb("batch", {"matchLabels": {"app": "batch"}}, 1))
    view = snapshot(waiting, nodes, pods, budgets)
    assert view.names == ("n0", "n1", "cpu")
    assert view.allowed.tolist() == [True, True, False]
    assert set(view.pods) == {"ns/web-0", "ns/batch-0", "ns/held-0", "ns/pinned", "ns/elsewhere"}
    assert view.layout.pods["ns/web-0"].nodes == frozenset({0, 1})
    assert view.layout.pods["ns/web-0"].budgets == ("ns/web",)
    assert not view.layout.pods["ns/pinned"].movable
    assert view.budgets == {"ns/web": 0, "ns/batch": 1}
    assert view.cluster.gpu_free.tolist() == [[500, 500], [0, 500], [0, 0]]
    plan = plan_defrag(
        view.cluster, view.layout, waiting_request(), budgets=view.budgets, allowed=view.allowed
    )
    assert plan is not None and [m.pod for m in plan.moves] == ["ns/batch-0"]
    assert (plan.node, plan.gpus) == (0, (1,))
    no_budget = [pdb("all", {}, 0)]
    view = snapshot(waiting, nodes, pods, no_budget)
    assert plan_defrag(view.cluster, view.layout, waiting_request(), budgets=view.budgets) is None


def test_snapshot_reads_taints_tolerations_and_required_affinity():
    taint = {"key": "team", "value": "ml", "effect": "NoSchedule"}
    nodes = [node("n0"), node("n1"), node("n2")]
    nodes[1]["spec"] = {"taints": [taint]}
    nodes[2]["metadata"]["labels"]["zone"] = "b"
    cordoned = node("off")
    cordoned["spec"] = {"unschedulable": True}
    waiting = pod("job", WHOLE)
    term = {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}
    required = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    waiting["spec"]["affinity"] = {"nodeAffinity": required}
    tolerant = pod("tolerant", HALF, "n0", (0,))
    tolerant["spec"]["tolerations"] = [{"key": "team", "operator": "Exists"}]
    plain = pod("plain", HALF, "n0", (1,))
    view = snapshot(waiting, [*nodes, cordoned], [tolerant, plain], [])
    assert view.names == ("n0", "n1", "n2")
    assert view.allowed.tolist() == [True, False, False]  # n1 tainted, n2 in zone b
    assert view.layout.pods["ns/tolerant"].nodes == frozenset({0, 1, 2})
    assert view.layout.pods["ns/plain"].nodes == frozenset({0, 2})


def waiting_request():
    return pod_request(pod("job", WHOLE))


def test_a_gpu_pod_with_no_recorded_gpus_holds_its_cpu_and_stays():
    view = snapshot(pod("job", WHOLE), [node("n0")], [pod("odd", HALF, "n0")], [])
    (running,) = view.layout.pods.values()
    assert not running.movable and running.gpus == ()
    assert view.cluster.gpu_free.tolist() == [[1000, 1000]]
    assert view.cluster.cpu_free.tolist() == [15500]


class Cluster:
    """A fake API client over plain dicts: lists by kind, merges node annotation patches,
    takes evictions (create with a name) and Events (create without); ``calls`` keeps the
    order of the writes."""

    def __init__(self, nodes, pods, budgets=()):
        self.objects = {"Node": nodes, "Pod": pods, "PodDisruptionBudget": list(budgets)}
        self.calls = []

    async def list(self, res, **_):
        for obj in self.objects[res._api_info.resource.kind]:
            yield Wrapped(obj)

    async def patch(self, res, name, body, **_):
        self.calls.append(("patch", name, body["metadata"]["annotations"][RESERVATION]))
        node = next(n for n in self.objects["Node"] if n["metadata"]["name"] == name)
        annotations = node["metadata"].setdefault("annotations", {})
        for key, value in body["metadata"]["annotations"].items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value

    async def create(self, obj, name=None, namespace=None):
        if name is not None:
            self.calls.append(("evict", name))
        else:
            about = obj.involvedObject
            self.calls.append(("event", obj.reason, about.kind, about.name, obj.message))

    def took(self, kind):
        return [c for c in self.calls if c[0] == kind]


def four_halves():
    nodes = [node("n0"), node("n1")]
    for n in nodes:
        n["metadata"]["uid"] = f"uid-{n['metadata']['name']}"
    pods = [pod(f"web-{i}", HALF, f"n{i // 2}", (i % 2,), {"app": "web"}) for i in range(4)]
    return nodes, pods


def first_pass():
    """Four half-GPU pods on two nodes and a whole-GPU job waiting: one defragmenter pass,
    its wall clock at 1000 s (``wall[0]`` moves it)."""
    nodes, pods = four_halves()
    job = pod("job", WHOLE)
    client = Cluster(nodes, [*pods, job])
    wall = [1000.0]
    controller = DefragController(client, fresh_metrics(), retry_s=0.0, wall=lambda: wall[0])
    asyncio.run(controller.sync())
    return nodes, job, client, wall, controller


def test_the_gpus_freed_are_reserved_before_any_eviction_and_released_when_the_pod_binds():
    nodes, job, client, _wall, controller = first_pass()
    kinds = [c[0] if c[0] != "event" else c[1] for c in client.calls]
    assert kinds == ["Defragmenting", "patch", "GpusReserved", "evict", "EvictedForDefragmentation"]
    (patch,) = client.took("patch")
    held = reservation_of(nodes[0])
    assert patch[1] == "n0" and held == GpuReservation("ns/job", "job", (0,), 1000.0 + RESERVE_S)
    assert client.took("evict") == [("evict", "web-0")]
    # the next pass plans nothing more for a pod that holds a reservation
    client.calls.clear()
    asyncio.run(controller.sync())
    assert client.calls == []
    # once it is bound the reservation goes, with an Event on the node and the pod
    job["spec"]["nodeName"] = "n0"
    asyncio.run(controller.sync())
    assert client.took("patch") == [("patch", "n0", None)]
    released = [c for c in client.took("event") if c[1] == "GpuReservationReleased"]
    message = "GPUs [0] no longer held for ns/job: bound to node n0"
    assert released == [
        ("event", "GpuReservationReleased", "Node", "n0", message),
        ("event", "GpuReservationReleased", "Pod", "job", message),
    ]
    assert reservation_of(nodes[0]) is None


@pytest.mark.parametrize("gone", [False, True])
def test_a_reservation_is_released_when_it_expires_or_its_pod_is_gone(gone):
    _nodes, job, client, wall, controller = first_pass()
    client.calls.clear()
    if gone:
        client.objects["Pod"].remove(job)
    else:
        wall[0] += RESERVE_S
    asyncio.run(controller.sync())
    why = "gone" if gone else "expired"
    assert client.took("patch")[0] == ("patch", "n0", None)
    released = [c[4] for c in client.took("event") if c[1] == "GpuReservationReleased"]
    assert released[0] == f"GPUs [0] no longer held for ns/job: {why}"
    assert len(released) == (1 if gone else 2)


def test_a_refused_eviction_releases_the_reservation_at_once():
    nodes, pods = four_halves()
    job = pod("job", WHOLE)
    client = Cluster(nodes, [*pods, job])

    async def refuse(obj, name=None, namespace=None):
        if name is not None:
            raise ApiError(status=Status(code=429, message="budget"))
        client.calls.append(("event", obj.reason, obj.involvedObject.kind, "", obj.message))

    client.create = refuse
    asyncio.run(DefragController(client, fresh_metrics()).sync())
    assert [c[2] for c in client.took("patch")][1:] == [None]
    reasons = [c[1] for c in client.took("event")]
    assert reasons[-3:] == [
        "DefragmentationBlocked",
        "GpuReservationReleased",
        "GpuReservationReleased",
    ]
    assert reservation_of(nodes[0]) is None


def test_another_pods_plan_counts_reserved_gpus_as_taken():
    nodes, pods = four_halves()
    pods = pods[:2]  # n1 is idle
    held = {"n1": GpuReservation("ns/first", "first", (0, 1), 2000.0)}
    view = snapshot(pod("second", WHOLE), nodes, pods, [], held)
    assert view.cluster.gpu_free.tolist() == [[500, 500], [0, 0]]
    plan = plan_defrag(view.cluster, view.layout, waiting_request(), allowed=view.allowed)
    assert plan is not None and plan.node == 0  # never the GPUs held for "first"
    mine = snapshot(pod("first", WHOLE), nodes, pods, [], held)
    assert mine.cluster.gpu_free.tolist() == [[500, 500], [1000, 1000]]
