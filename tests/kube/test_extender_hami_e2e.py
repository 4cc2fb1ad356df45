"""The real kube-scheduler places HAMi-style GPU shares through the extender onto a kwok node
that HAMi's device plugin registered (``hami.io/node-nvidia-register``, HAMi v2.10.0's JSON):
each pod carries HAMi's annotations beside gpushare's, naming the GPU the extender chose by
its UUID; a node whose register cannot be read gets no pod and says why, naming the node.
"""

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod, ServiceAccount

from tests.kube.gpushare import bound, failed_scheduling, gpu_pod
from tests.kube.kwok import condition, fake_node, wait_for
from tidewise.kube.api.annotations import GPU_INDEX, recorded_gpus
from tidewise.kube.api.hami import REGISTER
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    NVIDIA_GPU,
)

pytestmark = pytest.mark.e2e

GPUS = 4
UUIDS = [f"GPU-{i}e7c3f7-303d-558d-435e-99a160631fe{i}" for i in range(GPUS)]
REGISTERED = json.dumps(  # as HAMi v2.10.0's device plugin marshals it: index 0 left out
    [
        {"id": u, "count": 10, "devmem": 24576, "devcore": 100, "type": "NVIDIA-NVIDIA A10"}
        | ({"index": i} if i else {})
        | {"mode": "hami-core", "health": True}
        for i, u in enumerate(UUIDS)
    ]
)
LEGACY = f"{UUIDS[0]},10,24576,100,NVIDIA-NVIDIA A10,0,true:"  # HAMi up to v2.7
HAMI_KEYS = (
    "hami.io/vgpu-devices-to-allocate",
    "hami.io/vgpu-devices-allocated",
    "hami.io/vgpu-node",
    "hami.io/vgpu-time",
    "hami.io/bind-phase",
    "hami.io/bind-time",
)


def hami_share(cores: int, mib: int) -> dict[str, str]:
    return {NVIDIA_GPU: "1", HAMI_GPU_CORES: str(cores), HAMI_GPU_MEM: str(mib)}


@pytest.fixture
def place(kube: Client) -> Iterator[tuple[str, str, str, str]]:
    """A fresh namespace and three kwok nodes, each selectable by its own label: (namespace,
    a node only HAMi's plugin serves, one HAMi registered beside ours, one with HAMi's old
    register)."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"hami-{suffix}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    good, old, alone = f"hami-{suffix}", f"hami-old-{suffix}", f"hami-alone-{suffix}"
    # as a node served by tidewise's plugin with --gpu-split 10: both sets of names
    ours = {GPU_COUNT: str(GPUS), GPU_MEM: str(GPUS * 24), NVIDIA_GPU: str(GPUS * 10)}
    hamis = {NVIDIA_GPU: str(GPUS * 10)}  # HAMi's plugin alone: GPUs x deviceSplitCount
    for name, register, resources in (
        (good, REGISTERED, ours),
        (old, LEGACY, ours),
        (alone, REGISTERED, hamis),
    ):
        node = fake_node(name, resources, {"e2e": suffix, "hami-e2e": name})
        node.metadata.annotations[REGISTER] = register
        kube.create(node)
    for name in (good, old, alone):
        wait_for(f"{name} Ready", lambda name=name: condition(kube.get(Node, name), "Ready"))
    wait_for(
        "the default service account",
        lambda: bool(list(kube.list(ServiceAccount, namespace=namespace))),
    )
    yield namespace, alone, good, old
    for name in (good, old, alone):
        kube.delete(Node, name)
    kube.delete(Namespace, namespace)


def test_shares_on_a_hami_node_carry_hamis_annotations_naming_the_chosen_gpu(kube, extender, place):
    namespace, _, good, _ = place
    extender.start()
    before = int(time.time())
    asks = {
        "q0": hami_share(25, 4096),
        "q1": hami_share(25, 4096),
        "h0": hami_share(50, 8192),
        "h1": hami_share(60, 10240),
        "whole": hami_share(100, 20480),  # all of one GPU's cores: the GPU whole
        "gib": {HAMI_GPU_CORES: "30", GPU_MEM: "6"},  # no nvidia.com/gpu: gpushare's only
    }
    for name, gpu in asks.items():
        kube.create(gpu_pod(name, gpu, {"hami-e2e": good}), namespace=namespace)
    direct = gpu_pod("direct", hami_share(10, 1024), {"hami-e2e": good})
    direct.spec.schedulerName = "nobody"  # bound by asking the extender: its reply is checked
    uid = kube.create(direct, namespace=namespace).metadata.uid
    binding = {"PodName": "direct", "PodNamespace": namespace, "PodUID": uid, "Node": good}
    assert extender.post("bind", binding) == {"Error": ""}
    wait_for("all pods bound", lambda: len(bound(kube, namespace)) == len(asks) + 1)
    after = int(time.time())
    time.sleep(2)  # the scheduler posts its events asynchronously
    assert failed_scheduling(kube, namespace) == []

    asks["direct"] = hami_share(10, 1024)
    pods = {p.metadata.name: p for p in bound(kube, namespace)}
    assert {p.spec.nodeName for p in pods.values()} == {good}
    for name, pod in pods.items():
        annotations = pod.metadata.annotations
        written = {k: annotations[k] for k in HAMI_KEYS if k in annotations}
        labels = pod.metadata.labels or {}
        if name == "gib":
            assert written == {} and annotations[GPU_INDEX], annotations
            assert "hami.io/vgpu-node" not in labels
            continue
        assert labels["hami.io/vgpu-node"] == good  # HAMi's vGPU monitor lists pods by it
        [gpu] = recorded_gpus(pod.to_dict())
        stamp = written.get("hami.io/vgpu-time", "")
        assert stamp.isdigit() and before <= int(stamp) <= after, written
        devices = f"{UUIDS[gpu]},NVIDIA,{asks[name][HAMI_GPU_MEM]},{asks[name][HAMI_GPU_CORES]}:;"
        assert written == {
            "hami.io/vgpu-devices-to-allocate": devices,
            "hami.io/vgpu-devices-allocated": devices,
            "hami.io/vgpu-node": good,
            "hami.io/vgpu-time": stamp,
            "hami.io/bind-phase": "allocating",
            "hami.io/bind-time": stamp,
        }, name
    assert extender.metric("tidewise_extender_bind_failures_total", reason="hami") == 0


def test_a_node_with_an_unreadable_register_gets_no_pod_and_the_event_names_it(
    kube, extender, place
):
    namespace, _, _, old = place
    extender.start()
    kube.create(gpu_pod("waiting", hami_share(25, 4096), {"hami-e2e": old}), namespace=namespace)
    why = f"node {old}: annotation {REGISTER} is HAMi's colon-separated form (up to v2.7)"
    wait_for(
        "a FailedScheduling event naming the node",
        lambda: any(why in message for message in failed_scheduling(kube, namespace)),
        deadline=60,
    )
    pod = kube.get(Pod, "waiting", namespace=namespace)
    assert pod.spec.nodeName is None
    assert not any(k in (pod.metadata.annotations or {}) for k in (GPU_INDEX, *HAMI_KEYS))
    assert extender.metric("tidewise_extender_bind_failures_total", reason="hami") >= 1
    assert extender.metric("tidewise_extender_bookings_in_flight") == 0  # the booking freed


def test_with_no_hami_annotations_the_extender_binds_as_before_on_any_node(kube, extender, place):
    """The switch for clusters that run only gpushare's or tidewise's plugin beside a stale
    HAMi register: gpushare's annotations only, whatever the register says."""
    namespace, _, good, old = place
    extender.start(options=("--no-hami-annotations",))
    for node in (good, old):
        kube.create(gpu_pod(node, hami_share(25, 4096), {"hami-e2e": node}), namespace=namespace)
    wait_for("both pods bound", lambda: len(bound(kube, namespace)) == 2)
    for pod in bound(kube, namespace):
        annotations = pod.metadata.annotations
        assert annotations[GPU_INDEX] and not any(k in annotations for k in HAMI_KEYS)


def test_a_node_only_hamis_plugin_serves_takes_its_registered_gpus_and_no_more(
    kube, extender, place
):
    """Its nvidia.com/gpu says 40 (4 GPUs x 10 slots): the extender books the 4 GPUs HAMi
    registered, fills them with 8 half shares, each named to HAMi by its GPU's UUID, and
    turns the ninth away rather than invent a fifth GPU."""
    namespace, alone, _, _ = place
    extender.start()
    for i in range(9):
        kube.create(
            gpu_pod(f"h{i}", hami_share(50, 8192), {"hami-e2e": alone}), namespace=namespace
        )
    wait_for("8 pods bound", lambda: len(bound(kube, namespace)) == 8)
    pods = bound(kube, namespace)
    [left] = {f"h{i}" for i in range(9)} - {p.metadata.name for p in pods}
    refused = f"{left}: 0/"  # the scheduler's "0/N nodes are available: ..."
    wait_for(
        "the ninth pod refused",
        lambda: any(m.startswith(refused) for m in failed_scheduling(kube, namespace)),
    )
    assert len(bound(kube, namespace)) == 8 and {p.spec.nodeName for p in pods} == {alone}
    held = sorted(recorded_gpus(p.to_dict())[0] for p in pods)
    assert held == [0, 0, 1, 1, 2, 2, 3, 3]
    for pod in pods:
        [gpu] = recorded_gpus(pod.to_dict())
        devices = pod.metadata.annotations["hami.io/vgpu-devices-to-allocate"]
        assert devices == f"{UUIDS[gpu]},NVIDIA,8192,50:;"
