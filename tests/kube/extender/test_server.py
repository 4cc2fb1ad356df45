"""The HTTP surface as kube-scheduler sees it: verbs, Go field names, errors."""

import asyncio
import time

from aiohttp.test_utils import TestClient, TestServer

from tests.kube.api.factories import gpu_node, share, whole
from tidewise.kube.api.resources import node_capacity
from tidewise.kube.extender.binder import Binder
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.server import NOT_SYNCED, Extender, application, health_application
from tidewise.kube.extender.state import GpuShareBook, Holding
from tidewise.model import Resources


def extender_over(book, synced, **kw):
    """An extender's handlers over ``book`` (no API server: bind must not get that far)."""
    event = asyncio.Event()
    if synced:
        event.set()
    metrics = ExtenderMetrics()
    leading = kw.get("leading", lambda: True)
    return Extender(book, Binder(None, book, metrics, leading=leading), event, metrics, **kw)


def ask(book, synced, calls, extender=None):
    """POST each (verb, body) to a served app; the JSON answers (or status and text)."""

    async def run():
        client = TestClient(TestServer(application(extender or extender_over(book, synced))))
        await client.start_server()
        try:
            answers = []
            for verb, body in calls:
                response = await client.post(f"/{verb}", json=body)
                if response.status == 200:
                    answers.append(await response.json())
                else:
                    answers.append((response.status, await response.text()))
            return answers
        finally:
            await client.close()

    return asyncio.run(run())


def cluster_book():
    book = GpuShareBook()
    book.put_node("big", node_capacity(gpu_node("big", gpus=4)), "1")
    book.put_node("tiny", node_capacity(gpu_node("tiny", gpus=1, gib_per_gpu=2)), "2")
    return book


def test_filter_and_prioritize_answer_in_go_field_names():
    pod = share("p", 50, 4096)
    args = {"Pod": pod, "Nodes": None, "NodeNames": ["big", "tiny"]}
    filtered, scores = ask(cluster_book(), True, [("filter", args), ("prioritize", args)])
    assert filtered == {
        "Nodes": None,
        "NodeNames": ["big"],
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {"tiny": "node's GPUs have less than 4096 MiB of memory"},
        "Error": "",
    }
    assert scores == [{"Host": "big", "Score": 10}, {"Host": "tiny", "Score": 0}]


def test_full_node_objects_come_back_as_a_node_list():
    nodes = [gpu_node("big", gpus=4), gpu_node("tiny", gpus=1, gib_per_gpu=2)]
    args = {"Pod": share("p", 50, 4096), "Nodes": {"items": nodes}, "NodeNames": None}
    [filtered] = ask(cluster_book(), True, [("filter", args)])
    assert filtered["NodeNames"] is None
    assert filtered["Nodes"]["items"] == [nodes[0]]


def test_errors_reach_the_scheduler_as_the_protocol_says():
    args = {"Pod": share("p", 50, 4096), "NodeNames": ["big"]}
    bad_pod = {"Pod": share("q", 150, 1024), "NodeNames": ["big"]}
    answers = ask(
        cluster_book(),
        True,
        [("filter", bad_pod), ("filter", {"Nodes": []}), ("bind", {"PodName": "p"})],
    )
    assert answers[0]["Error"] == "nvidia.com/gpucores over 100 (one GPU)"
    assert answers[1]["Error"] == "ExtenderArgs must be an object with a Pod"
    assert answers[2] == {
        "Error": "ExtenderBindingArgs needs the strings PodName, PodNamespace, PodUID, Node"
    }
    unsynced = ask(cluster_book(), False, [("filter", args), ("prioritize", args)])
    assert unsynced[0]["Error"] == NOT_SYNCED
    assert unsynced[1] == (503, NOT_SYNCED)


def samples(metrics, name):
    """``{labels tuple: value}`` of one metric family's samples named ``name``."""
    return {
        tuple(sorted(s.labels.values())): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name and s.value
    }


def test_each_verb_is_timed_and_counted_by_outcome():
    book = cluster_book()
    extender = extender_over(book, True)
    args = {"Pod": share("p", 50, 4096), "NodeNames": ["big", "tiny"]}
    ask(book, True, [("filter", args), ("prioritize", args), ("bind", {})], extender)
    ask(book, False, [("filter", args)], extender_over(book, False))
    assert samples(extender.metrics, "tidewise_extender_requests_total") == {
        ("filter", "ok"): 1.0,
        ("ok", "prioritize"): 1.0,
        ("bind", "error"): 1.0,
    }
    timed = samples(extender.metrics, "tidewise_extender_request_duration_seconds_count")
    assert timed == {("filter",): 1.0, ("prioritize",): 1.0, ("bind",): 1.0}
    assert samples(extender.metrics, "tidewise_extender_bind_failures_total") == {
        ("bad_request",): 1.0
    }


def test_a_standby_answers_from_its_books_refuses_bind_and_closes_each_connection():
    book = cluster_book()
    extender = extender_over(book, True, leading=lambda: False)
    args = {"Pod": share("p", 50, 4096), "NodeNames": ["big"]}
    bind = {"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "big"}

    async def run():
        client = TestClient(TestServer(application(extender)))
        await client.start_server()
        try:
            filtered = await client.post("/filter", json=args)
            bound = await client.post("/bind", json=bind)
            return filtered.headers.get("Connection"), await filtered.json(), await bound.json()
        finally:
            await client.close()

    connection, filtered, bound = asyncio.run(run())
    assert connection == "close"
    assert filtered["NodeNames"] == ["big"]
    assert "not the leader" in bound["Error"] and book.holdings == {}
    assert samples(extender.metrics, "tidewise_extender_requests_total") == {
        ("filter", "ok"): 1.0,
        ("bind", "not_leader"): 1.0,
    }


def test_a_pod_turned_away_from_every_node_for_want_of_room_is_noted_for_requeueing():
    book = cluster_book()
    book.put_pod("x", Holding("big", Resources(1000, 1024, gpu_count=4), (0, 1, 2, 3)))
    noted = []
    extender = extender_over(book, True, rejected=noted.append)
    full = share("p", 50, 4096)
    never = share("q", 50, 40000)  # more memory than any GPU here: waiting will not help
    ask(
        book,
        True,
        [("filter", {"Pod": p, "NodeNames": ["big", "tiny"]}) for p in (full, never)],
        extender,
    )
    assert [p["metadata"]["name"] for p in noted] == ["p"]


def test_an_unbounded_quantity_is_refused_at_once():
    """``1e300000`` would be a 300,000-digit number: the reader refuses it from its exponent
    before any arithmetic, so the scheduler hears why in a blink."""
    huge = whole("p", 1)
    huge["spec"]["containers"][0]["resources"]["requests"]["aliyun.com/gpu-count"] = "1e300000"
    started = time.perf_counter()
    [answer] = ask(cluster_book(), True, [("filter", {"Pod": huge, "NodeNames": ["big"]})])
    assert time.perf_counter() - started < 1.0
    assert (
        answer["Error"] == "aliyun.com/gpu-count: '1e300000' is out of range: above 2^63-1, "
        "more than any resource holds"
    )


def test_health_endpoints_say_alive_ready_and_the_metrics():
    async def run(synced):
        extender = extender_over(cluster_book(), synced)
        extender.metrics.watch_books(extender.book)
        client = TestClient(TestServer(health_application(extender)))
        await client.start_server()
        try:
            answers = [await client.get(p) for p in ("/healthz", "/readyz", "/metrics")]
            return [a.status for a in answers], await answers[2].text()
        finally:
            await client.close()

    assert asyncio.run(run(False))[0] == [200, 503, 200]
    statuses, text = asyncio.run(run(True))
    assert statuses == [200, 200, 200]
    assert "tidewise_extender_books_nodes 2.0" in text
    assert 'tidewise_extender_requests_total{outcome="ok",verb="filter"} 0.0' in text
