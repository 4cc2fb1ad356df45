"""The HTTP surface as kube-scheduler sees it: verbs, Go field names, errors."""

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from tests.kube.api.factories import gpu_node, share
from tidewise.kube.api.resources import node_capacity
from tidewise.kube.extender.server import NOT_SYNCED, application
from tidewise.kube.extender.state import GpuShareBook


def ask(book, synced, calls):
    """POST each (verb, body) to a served app; the JSON answers (or status and text)."""

    async def run():
        event = asyncio.Event()
        if synced:
            event.set()
        client = TestClient(TestServer(application(book, None, event)))
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
