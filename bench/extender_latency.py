"""Scheduler-extender latency per call at 100 and 1,000 nodes, as JSON.

    python bench/extender_latency.py [--nodes 100 1000] [--calls 300] [--seed 0]

Over loopback HTTP: the extender's aiohttp app served on 127.0.0.1, driven by an aiohttp
client sending what kube-scheduler sends with ``nodeCacheCapable`` (the pod and every node's
name), timed from request to parsed answer, so JSON both ways and the HTTP stack are in the
figure (the scheduler's own Go client and the network are not). Also in-process: the books'
filter alone. The cluster: 8-GPU nodes of three models, half of their GPU share already
taken by pods the engine placed; each call asks about a random pod of the mix (a quarter,
a half, one or two whole GPUs). Target (issue 7): filter p99 under 20 ms at 1,000 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time

import numpy as np
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tidewise.kube.extender.server import application
from tidewise.kube.extender.state import GpuShareBook
from tidewise.model import Resources

MODELS = (("A10", 24576), ("L4", 23034), ("A100", 40960))
MIX = (
    (
        {"nvidia.com/gpucores": "25", "nvidia.com/gpumem": "4096"},
        Resources(4000, 8192, gpu_milli=250),
    ),
    (
        {"nvidia.com/gpucores": "50", "nvidia.com/gpumem": "8192"},
        Resources(8000, 16384, gpu_milli=500),
    ),
    ({"aliyun.com/gpu-count": "1"}, Resources(8000, 32768, gpu_count=1)),
    ({"aliyun.com/gpu-count": "2"}, Resources(16000, 65536, gpu_count=2)),
)


def filled_book(nodes: int, rng: np.random.Generator) -> GpuShareBook:
    """``nodes`` 8-GPU nodes, then engine-placed pods until half the GPU share is taken."""
    book = GpuShareBook()
    for i in range(nodes):
        model, memory = MODELS[i % len(MODELS)]
        capacity = Resources(96000, 786432, gpu_count=8, gpu_memory_mib=memory, gpu_model=model)
        book.put_node(f"node-{i:04d}", capacity, f"{i:06d}")
    names = list(book.nodes)
    target = nodes * 8 * 1000 // 2
    taken, uid = 0, 0
    while taken < target:
        shape = MIX[int(rng.integers(len(MIX)))][1]
        passed = book.filter(shape, names).passed
        book.assume(f"fill-{uid}", shape, book.choose_node(shape, passed), now=0.0)
        taken += shape.gpu_milli_total
        uid += 1
    return book


def pod(i: int, gpu: dict[str, str]) -> dict:
    requests = {"cpu": "4", "memory": "8Gi", **gpu}
    return {
        "metadata": {"name": f"bench-{i}", "namespace": "default", "uid": f"bench-{i}"},
        "spec": {"containers": [{"name": "main", "resources": {"requests": requests}}]},
    }


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


async def over_http(book: GpuShareBook, calls: int, rng: np.random.Generator) -> dict:
    synced = asyncio.Event()
    synced.set()
    server = TestServer(application(book, None, synced), host="127.0.0.1")
    await server.start_server()
    names = list(book.nodes)
    timings: dict[str, list[float]] = {"filter": [], "prioritize": []}
    try:
        async with ClientSession() as session:
            for i in range(calls):
                gpu = MIX[int(rng.integers(len(MIX)))][0]
                body = {"Pod": pod(i, gpu), "Nodes": None, "NodeNames": names}
                for verb, times in timings.items():
                    started = time.perf_counter()
                    async with session.post(server.make_url(f"/{verb}"), json=body) as answer:
                        await answer.json()
                    times.append(time.perf_counter() - started)
    finally:
        await server.close()
    return {verb: percentiles(times) for verb, times in timings.items()}


def in_process(book: GpuShareBook, calls: int, rng: np.random.Generator) -> dict:
    names = list(book.nodes)
    times = []
    for _ in range(calls):
        shape = MIX[int(rng.integers(len(MIX)))][1]
        started = time.perf_counter()
        book.filter(shape, names)
        times.append(time.perf_counter() - started)
    return {"filter": percentiles(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = []
    for nodes in args.nodes:
        rng = np.random.default_rng(args.seed)
        book = filled_book(nodes, rng)
        results.append(
            {
                "nodes": nodes,
                "pods_held": len(book.holdings),
                "loopback_http": asyncio.run(over_http(book, args.calls, rng)),
                "in_process": in_process(book, args.calls, rng),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "extender_latency",
                "calls": args.calls,
                "machine": f"{platform.machine()}, {platform.python_version()}",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
