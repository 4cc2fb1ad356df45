"""Bind against a fake API client: a bind that fails anywhere, in any way, frees what it
booked and answers an error; only the leader creates Bindings."""

import asyncio
import copy
from types import SimpleNamespace

import httpx2 as httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from tests.kube.api.factories import gpu_node, whole
from tidewise.kube.api.annotations import GPU_INDEX
from tidewise.kube.api.resources import node_capacity
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
