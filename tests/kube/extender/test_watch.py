"""Listing and watching into the books, against a fake API client: a node that cannot be read
is left out with one Event, the others are served; a fresh listing frees what no pod holds."""

import asyncio
import json
from types import SimpleNamespace

from lightkube import ApiError
from lightkube.models.meta_v1 import Status

from tests.kube.api.factories import gpu_node, whole
from tidewise.kube.api.hami import REGISTER
from tidewise.kube.api.resources import GPU_COUNT, GPU_MEMORY_LABEL, NVIDIA_GPU
from tidewise.kube.extender.metrics import RELIST_REASONS, ExtenderMetrics
from tidewise.kube.extender.state import ASSUME_TTL_S, GpuShareBook
from tidewise.kube.extender.watch import SKIPPED_REASON, Sync, _gone
from tidewise.model import Resources


class Listing:
    """What ``AsyncClient.list`` returns: objects to iterate, then a resourceVersion."""

    def __init__(self, objects):
        self.objects, self.resourceVersion = objects, "7"

    async def __aiter__(self):
        for obj in self.objects:
            yield SimpleNamespace(to_dict=lambda obj=obj: obj)


class FakeClient:
    """Lists what it holds; each watch plays the next script queued for its kind (events, then
    an exception to end it, or nothing: it stays open), recording where it was started from."""

    def __init__(self, nodes, pods=()):
        self.nodes, self.pods, self.events = list(nodes), list(pods), []
        self.scripts = {"Node": [], "Pod": []}
        self.watched = []  # (kind, resource_version)

    def list(self, kind, namespace=None):
        return Listing(self.nodes if kind.__name__ == "Node" else self.pods)

    async def watch(self, kind, namespace=None, resource_version=None, server_timeout=None):
        self.watched.append((kind.__name__, resource_version))
        script = self.scripts[kind.__name__]
        events, ending = script.pop(0) if script else ((), None)
        for event_type, obj in events:
            yield event_type, SimpleNamespace(to_dict=lambda obj=obj: obj)
        if ending is not None:
            raise ending
        await asyncio.Event().wait()

    async def create(self, obj):
        self.events.append(obj)


def named(node, uid):
    node["metadata"]["uid"] = uid
    return node


def unreadable_nodes():
    label = named(gpu_node("bad-label"), "u-label")
    label["metadata"]["labels"][GPU_MEMORY_LABEL] = "lots"
    huge = named(gpu_node("huge"), "u-huge")
    huge["status"]["allocatable"][GPU_COUNT] = "1e300000"
    return [label, huge]


def test_a_node_that_cannot_be_read_is_left_out_with_one_event_and_the_rest_are_served():
    """Before, one such node failed every listing: the extender answered 503 for ever."""
    client = FakeClient([gpu_node("good"), *unreadable_nodes()])
    book, metrics = GpuShareBook(), ExtenderMetrics()
    sync = Sync(client, book, metrics, monotonic=lambda: 0.0)
    asyncio.run(sync.relist())
    assert set(book.nodes) == {"good"}
    assert sync.skipped == {
        "bad-label": "cannot read its capacity or GPU labels: label nvidia.com/gpu.memory="
        "'lots' is not a whole number of MiB (GPU feature discovery writes e.g. 15360)",
        "huge": "cannot read its capacity or GPU labels: allocatable aliyun.com/gpu-count: "
        "'1e300000' is out of range: above 2^63-1, more than any resource holds",
    }
    assert metrics.skipped_nodes._value.get() == 2
    told = {e.involvedObject.name: e for e in client.events}
    assert set(told) == {"bad-label", "huge"}
    assert {e.reason for e in told.values()} == {SKIPPED_REASON}
    assert {e.type for e in told.values()} == {"Warning"}
    assert told["huge"].involvedObject.uid == "u-huge"  # so `kubectl describe node` shows it
    assert "fix the node's object" in told["huge"].message

    asyncio.run(sync.relist())  # said once, not at every listing
    assert len(client.events) == 2

    asyncio.run(sync.observe_node("MODIFIED", named(gpu_node("huge"), "u-huge")))  # fixed
    assert set(book.nodes) == {"good", "huge"} and set(sync.skipped) == {"bad-label"}
    assert metrics.skipped_nodes._value.get() == 1
    asyncio.run(sync.observe_node("MODIFIED", unreadable_nodes()[1]))  # broken again
    assert set(book.nodes) == {"good"} and len(client.events) == 3


def test_a_listing_frees_bookings_no_bound_pod_backs():
    """Only pods bound to a node hold GPUs: a booking whose bind never completed (the pod is
    listed unbound) is dropped once past its bound, and counted as expired."""
    client = FakeClient([gpu_node("n", gpus=1)], [whole("lost", 1)])
    book, metrics = GpuShareBook(), ExtenderMetrics()
    now = [0.0]
    sync = Sync(client, book, metrics, monotonic=lambda: now[0])
    freed = []
    sync.freed = lambda: freed.append(True)
    asyncio.run(sync.relist())
    book.assume("uid-lost", Resources(1000, 1024, gpu_count=1), "n", now=0.0)
    now[0] = ASSUME_TTL_S / 2
    asyncio.run(sync.relist())
    assert set(book.holdings) == {"uid-lost"}  # its Binding may be on its way
    now[0] = ASSUME_TTL_S + 1
    asyncio.run(sync.relist())
    assert book.holdings == {} and metrics.expired._value.get() == 1
    assert freed  # kube-scheduler is told to try again what the books turned away


def test_410_gone_is_told_apart_from_other_failures():
    gone = ApiError(status=Status(code=410, message="too old resource version"))
    other = ApiError(status=Status(code=500, message="boom"))
    assert _gone(ExceptionGroup("watch", [gone]))
    assert not _gone(ExceptionGroup("watch", [other])) and not _gone(OSError())


def test_a_watch_ended_by_410_gone_lists_again_and_an_unreadable_node_does_not_end_it(
    monkeypatch,
):
    """The watch loop itself: a node turned unreadable mid-watch is left out and the watch goes
    on; 410 Gone ends it, the books are listed again (counted as ``gone``, the sync gauge down
    meanwhile) and the watches start from the new listing's resourceVersion."""
    monkeypatch.setattr("tidewise.kube.extender.watch.RELIST_PAUSE_S", 0.0)
    client = FakeClient([gpu_node("a"), gpu_node("b")])
    broken = unreadable_nodes()[0]
    broken["metadata"]["name"] = "b"
    gone = ApiError(status=Status(code=410, message="too old resource version"))
    client.scripts["Node"] = [([("MODIFIED", broken)], None)]
    client.scripts["Pod"] = [((), gone)]
    book, metrics = GpuShareBook(), ExtenderMetrics()
    sync = Sync(client, book, metrics, monotonic=lambda: 0.0)
    gauge = []

    async def scenario():
        task = asyncio.create_task(sync.run())
        await sync.synced.wait()
        while len(client.watched) < 4:  # two watches, then two after the listing again
            gauge.append(metrics.synced._value.get())
            await asyncio.sleep(0)
        task.cancel()

    asyncio.run(scenario())
    relists = {r: metrics.relists.labels(reason=r)._value.get() for r in RELIST_REASONS}
    assert relists == {"start": 1, "gone": 1, "error": 0}
    assert 0 in gauge and metrics.synced._value.get() == 1
    assert sorted(client.watched) == [("Node", "7"), ("Node", "7"), ("Pod", "7"), ("Pod", "7")]
    assert set(book.nodes) == {"a", "b"}  # b listed readable again: back on the books
    assert sync.skipped == {} and [e.involvedObject.name for e in client.events] == ["b"]


def test_the_books_keep_each_nodes_hami_register_as_listed_and_watched():
    """Read at bind (api.hami): kept as text, so a malformed one fails only binds there."""
    hami = named(gpu_node("hami"), "u-hami")
    hami["metadata"]["annotations"] = {REGISTER: '[{"id": "GPU-a"}]'}
    book = GpuShareBook()
    sync = Sync(FakeClient([hami, named(gpu_node("plain"), "u-plain")]), book, ExtenderMetrics())
    asyncio.run(sync.relist())
    assert book.hami_registers == {"hami": '[{"id": "GPU-a"}]'}
    changed = named(gpu_node("plain"), "u-plain")
    changed["metadata"]["annotations"] = {REGISTER: "broken"}
    asyncio.run(sync.observe_node("MODIFIED", changed))
    hami["metadata"]["annotations"] = {}  # HAMi's plugin cleaned up
    asyncio.run(sync.observe_node("MODIFIED", hami))
    assert book.hami_registers == {"plain": "broken"}
    asyncio.run(sync.observe_node("DELETED", changed))
    assert book.hami_registers == {} and set(book.nodes) == {"hami"}


def hami_only_node(name, register):
    """A node HAMi's plugin alone serves: nvidia.com/gpu is 4 GPUs x 10 slots, no gpushare."""
    node = named(gpu_node(name), f"u-{name}")
    for listing in ("capacity", "allocatable"):
        node["status"][listing] = {"cpu": "32", "memory": "128Gi", NVIDIA_GPU: "40"}
    node["metadata"]["annotations"] = {REGISTER: register}
    return node


def test_a_node_only_hamis_plugin_serves_is_booked_with_its_registered_gpus_or_left_out():
    register = json.dumps([{"id": f"GPU-{i}", "index": i, "devmem": 24576} for i in range(4)])
    legacy = "GPU-0,10,24576,100,NVIDIA-NVIDIA A10,0,true:"
    client = FakeClient([hami_only_node("hami", register), hami_only_node("old", legacy)])
    book = GpuShareBook()
    sync = Sync(client, book, ExtenderMetrics())
    asyncio.run(sync.relist())
    capacity, _ = book.nodes["hami"]
    assert (capacity.gpu_count, capacity.gpu_memory_mib) == (4, 24576)  # not 40 GPUs
    assert set(book.nodes) == {"hami"}
    [told] = client.events
    assert told.involvedObject.name == "old" and told.reason == SKIPPED_REASON
    assert told.message.startswith(
        "the GPU-share extender leaves this node out: node old: annotation "
        "hami.io/node-nvidia-register is HAMi's colon-separated form (up to v2.7)"
    )


def test_reservations_are_read_from_the_nodes_listed_and_watched_and_expire_by_the_wall_clock(
    monkeypatch,
):
    from tidewise.kube.api.reservation import GpuReservation, reservation_patch

    held = GpuReservation("ml/job", "uid-job", (0,), 100.0)
    reserved = gpu_node("n")
    reserved["metadata"]["annotations"] = reservation_patch(held)["metadata"]["annotations"]
    client = FakeClient([reserved, gpu_node("m")])
    book, metrics = GpuShareBook(), ExtenderMetrics()
    wall = [50.0]
    sync = Sync(client, book, metrics, monotonic=lambda: 0.0, wall=lambda: wall[0])
    freed = []
    sync.freed = lambda: freed.append(True)
    asyncio.run(sync.relist())
    assert book.reservations == {"n": held}
    freed.clear()
    asyncio.run(sync.observe_node("MODIFIED", gpu_node("n")))  # the defragmenter released it
    assert book.reservations == {} and freed  # turned-away pods are tried again
    asyncio.run(sync.observe_node("MODIFIED", reserved))
    assert book.reservations == {"n": held}
    asyncio.run(sync.observe_node("DELETED", reserved))
    assert book.reservations == {}
    asyncio.run(sync.observe_node("ADDED", reserved))
    wall[0] = 100.0

    async def one_round():
        task = asyncio.create_task(sync._expire())
        while book.reservations:
            await asyncio.sleep(0.01)
        task.cancel()

    freed.clear()
    monkeypatch.setattr("tidewise.kube.extender.watch.EXPIRE_EVERY_S", 0.01)
    asyncio.run(asyncio.wait_for(one_round(), timeout=5))
    assert book.reservations == {} and freed
