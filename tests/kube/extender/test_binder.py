"""Bind against a fake API client: a bind that fails anywhere, in any way, frees what it
booked and answers an error; only the leader creates Bindings."""

import asyncio
import copy
import json
from types import SimpleNamespace

import httpx2 as httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from tests.kube.api.factories import gpu_node, pod, share, whole
from tidewise.kube.api.annotations import (
    ASSIGNED,
    ASSUME_TIME,
    DEVICE_GPU_MEMORY,
    GPU_INDEX,
    POD_GPU_MEMORY,
)
from tidewise.kube.api.resources import HAMI_GPU_CORES, HAMI_GPU_MEM, NVIDIA_GPU, node_capacity
from tidewise.kube.extender import binder as binder_module
from tidewise.kube.extender.binder import Binder
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.protocol import BindingArgs
from tidewise.kube.extender.state import GpuShareBook


class FakeClient:
    """The three calls bind makes; ``create`` fails with ``failure`` (or hangs) if given."""

    def __init__(self, pods, failure=None, hang=False, on_patch=None):
        self.pods = {p["metadata"]["name"]: p for p in pods}
        self.failure, self.hang, self.on_patch = failure, hang, on_patch
        self.patches, self.created = [], []

    async def get(self, kind, name, namespace):
        return SimpleNamespace(to_dict=lambda: copy.deepcopy(self.pods[name]))

    async def patch(self, kind, name, body, namespace):
        self.patches.append((name, body))
        if self.on_patch:
            self.on_patch()

    async def create(self, obj, name, namespace):
        if self.hang:
            await asyncio.Event().wait()
        if self.failure:
            raise self.failure
        self.created.append(obj.to_dict())  # what lightkube sends


def one_gpu_book():
    book = GpuShareBook()
    book.put_node("n", node_capacity(gpu_node("n", gpus=1)), "")
    return book


def args(name):
    return BindingArgs(name, "default", f"uid-{name}", "n")


def failures(metrics):
    return {
        sample.labels["reason"]: sample.value
        for sample in metrics.bind_failures.collect()[0].samples
        if sample.name.endswith("_total") and sample.value
    }


def bind(binder, name):
    return asyncio.run(binder.bind(args(name)))


def test_a_successful_bind_books_writes_and_binds():
    book, metrics = one_gpu_book(), ExtenderMetrics()
    client = FakeClient([whole("a", 1)])
    assert bind(Binder(client, book, metrics), "a") == ""
    [(name, body)] = client.patches
    assert name == "a" and body["metadata"]["annotations"][GPU_INDEX] == "0"
    [created] = client.created
    assert created["target"] == {"apiVersion": "v1", "kind": "Node", "name": "n"}
    assert created["metadata"]["uid"] == "uid-a"
    assert set(book.holdings) == {"uid-a"} and failures(metrics) == {}


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadError("connection reset by peer")],
)
def test_a_binding_lost_in_transport_frees_its_gpus_and_answers_an_error(failure):
    """The API server never answered the Binding: the GPUs go back, the scheduler hears why
    (before, the transport error escaped, the answer was a 500 and the booking stayed)."""
    book, metrics = one_gpu_book(), ExtenderMetrics()
    binder = Binder(FakeClient([whole("a", 1), whole("b", 1)], failure=failure), book, metrics)
    error = bind(binder, "a")
    assert error.startswith("cannot bind: ") and str(failure) in error
    assert book.holdings == {} and book.in_flight == 0
    assert failures(metrics) == {"binding": 1.0}
    binder.client.failure = None
    assert bind(binder, "b") == ""  # the GPU the failed bind booked is free


def test_a_binding_that_hangs_is_cut_at_the_deadline_and_frees_its_gpus(monkeypatch):
    monkeypatch.setattr(binder_module, "BIND_DEADLINE_S", 0.05)
    book, metrics = one_gpu_book(), ExtenderMetrics()
    error = bind(Binder(FakeClient([whole("a", 1)], hang=True), book, metrics), "a")
    assert "0.05 s" in error and book.holdings == {}
    assert failures(metrics) == {"timeout": 1.0}


def test_a_standby_replica_refuses_to_bind_and_writes_nothing():
    book, metrics = one_gpu_book(), ExtenderMetrics()
    client = FakeClient([whole("a", 1)])
    error = bind(Binder(client, book, metrics, leading=lambda: False), "a")
    assert "not the leader" in error
    assert client.patches == [] and client.created == [] and book.holdings == {}
    assert failures(metrics) == {"not_leader": 1.0}


def test_leadership_lost_after_the_annotations_stops_the_binding():
    """A replica that lost the Lease while writing the annotations must not create the
    Binding: the new leader may already have booked those GPUs for another pod."""
    book, metrics = one_gpu_book(), ExtenderMetrics()
    leading = [True]
    client = FakeClient([whole("a", 1)], on_patch=lambda: leading.__setitem__(0, False))
    error = bind(Binder(client, book, metrics, leading=lambda: leading[0]), "a")
    assert "not the leader" in error
    assert client.created == [] and book.holdings == {}


def test_a_pod_replaced_under_the_same_name_is_not_bound():
    book, metrics = one_gpu_book(), ExtenderMetrics()
    client = FakeClient([whole("a", 1, uid="other")])
    error = bind(Binder(client, book, metrics), "a")
    assert "uid changed" in error and client.created == []
    assert failures(metrics) == {"pod_changed": 1.0}


def test_a_bind_the_api_server_answers_with_a_status_is_a_success():
    """Through lightkube's real client: the API server answers a pods/binding create with a
    ``Status``, not a Binding. Before, lightkube's typed ``Pod.Binding`` failed to read it
    after the pod was bound, and kube-scheduler was told that every successful bind failed."""
    pod = whole("a", 1)
    pod["metadata"]["uid"] = "uid-a"
    posted = []

    async def get(request: web.Request) -> web.Response:
        return web.json_response(pod)

    async def binding(request: web.Request) -> web.Response:
        posted.append(await request.json())
        status = {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}
        return web.json_response(status, status=201)

    async def scenario() -> str:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/default/pods/a", get)
        app.router.add_patch("/api/v1/namespaces/default/pods/a", get)
        app.router.add_post("/api/v1/namespaces/default/pods/a/binding", binding)
        async with TestServer(app, host="127.0.0.1") as server:
            cluster = Cluster(server=str(server.make_url("")))
            client = AsyncClient(KubeConfig.from_one(cluster=cluster, user=User(token="t")))
            binder = Binder(client, one_gpu_book(), ExtenderMetrics())
            return await binder.bind(args("a"))

    assert asyncio.run(scenario()) == ""
    [body] = posted
    assert body["kind"] == "Binding" and body["target"] == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "n",
    }
    assert body["metadata"] == {"name": "a", "namespace": "default", "uid": "uid-a"}


# -- HAMi's annotations, beside gpushare's, where HAMi's device plugin registered the node ----

GPUSHARE_KEYS = {GPU_INDEX, POD_GPU_MEMORY, DEVICE_GPU_MEMORY, ASSIGNED, ASSUME_TIME}
HAMI_UUIDS = ["GPU-0a0a0a0a-0000", "GPU-1b1b1b1b-1111"]
NOW_NS = 1_700_000_000_123_456_789


def hami_book(register=None):
    """Node ``n`` (two GPUs), carrying HAMi's register (v2.10.0's JSON) unless told otherwise."""
    book = GpuShareBook()
    book.put_node("n", node_capacity(gpu_node("n", gpus=2)), "")
    if register is None:
        register = json.dumps([{"id": u, "index": i} for i, u in enumerate(HAMI_UUIDS)])
    book.put_hami_register("n", register)
    return book


def hami_share(name):
    """60 % of a GPU: two never share one, so both GPUs' UUIDs are written."""
    return pod(name, **{NVIDIA_GPU: "1", HAMI_GPU_CORES: "60", HAMI_GPU_MEM: "4096"})


def test_a_share_on_a_hami_node_gets_hamis_annotations_beside_gpushares_in_one_patch():
    client = FakeClient([hami_share("a"), hami_share("b")])
    binder = Binder(client, hami_book(), ExtenderMetrics(), clock_ns=lambda: NOW_NS)
    assert bind(binder, "a") == "" and bind(binder, "b") == ""
    used = [int(body["metadata"]["annotations"][GPU_INDEX]) for _, body in client.patches]
    assert sorted(used) == [0, 1]
    for name, body in client.patches:
        annotations = body["metadata"]["annotations"]
        gpu = int(annotations[GPU_INDEX])
        devices = f"{HAMI_UUIDS[gpu]},NVIDIA,4096,60:;"
        assert annotations == {
            GPU_INDEX: str(gpu),
            POD_GPU_MEMORY: "4",
            DEVICE_GPU_MEMORY: "16",
            ASSIGNED: "false",
            ASSUME_TIME: str(NOW_NS),
            "hami.io/vgpu-devices-to-allocate": devices,
            "hami.io/vgpu-devices-allocated": devices,
            "hami.io/vgpu-node": "n",
            "hami.io/vgpu-time": "1700000000",
            "hami.io/bind-phase": "allocating",
            "hami.io/bind-time": "1700000000",
        }, name
        assert body["metadata"]["labels"] == {"hami.io/vgpu-node": "n"}
    assert len(client.created) == 2


def test_a_node_without_hamis_register_and_a_pod_without_nvidia_gpu_get_gpushares_only():
    book = hami_book()
    book.hami_registers.clear()
    client = FakeClient([hami_share("a")])
    assert bind(Binder(client, book, ExtenderMetrics()), "a") == ""
    client = FakeClient([share("b", 30, 4096)])  # HAMi's share names without nvidia.com/gpu
    assert bind(Binder(client, hami_book(), ExtenderMetrics()), "b") == ""
    client_off = FakeClient([hami_share("c")])  # --no-hami-annotations
    assert bind(Binder(client_off, hami_book(), ExtenderMetrics(), hami=False), "c") == ""
    for written in (client, client_off):
        [(_, body)] = written.patches
        assert set(body["metadata"]["annotations"]) == GPUSHARE_KEYS
        assert "labels" not in body["metadata"]


@pytest.mark.parametrize(
    ("register", "why"),
    [
        (f"{HAMI_UUIDS[0]},10,16384,100,NVIDIA-A10,0,true:", "colon-separated form"),
        ("[{", "not JSON"),
        ('[{"id": "GPU-x", "index": 7}]', "has no GPU index"),
    ],
)
def test_a_bad_register_fails_the_bind_naming_the_node_and_writes_nothing(register, why):
    """Never a wrong GPU: no annotation, no Binding, the booking freed, and the scheduler
    (whose FailedScheduling Event carries it) told which node and why, in one line."""
    book, metrics = hami_book(register), ExtenderMetrics()
    client = FakeClient([hami_share("a")])
    error = bind(Binder(client, book, metrics), "a")
    assert error.startswith("node n: annotation hami.io/node-nvidia-register") and why in error
    assert "\n" not in error
    assert client.patches == [] and client.created == [] and book.holdings == {}
    assert failures(metrics) == {"hami": 1.0}
