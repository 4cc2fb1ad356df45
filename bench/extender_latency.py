"""Scheduler-extender latency per call at 100 and 1,000 nodes, over plain HTTP and over HTTPS
with a client certificate, in one run, as JSON.

    python bench/extender_latency.py [--nodes 100 1000] [--calls 300] [--seed 0]

Over loopback: the extender's aiohttp app served on 127.0.0.1 twice, once plain and once with
the TLS it runs with in a cluster (TLS 1.2+, ECDSA P-256 certificates, the client's
certificate required and checked), driven by an aiohttp client sending what kube-scheduler
sends with ``nodeCacheCapable`` (the pod and every node's name), timed from request to parsed
answer, so JSON both ways and the HTTP and TLS stacks are in the figure (the scheduler's own
Go client and the network are not). Each call is made over both transports in turn, on
kept-alive connections as kube-scheduler's client keeps them, so both see the same load; the
ratios are HTTPS over HTTP; ``cpu_per_call``: the CPU time of each call (client and server
together), which the other work on a busy machine does not inflate. ``https_new_connection``:
filter with a fresh TLS handshake per call, the worst case (a scheduler that reconnects every
time). Also in-process: the books' filter alone. The cluster: 8-GPU nodes of three models,
half of their GPU share already taken by pods the engine placed; each call asks about a
random pod of the mix (a quarter, a half, one or two whole GPUs). Target (issues 7 and 16):
p99 under 20 ms at 1,000 nodes, over HTTPS.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import ssl
import tempfile
import time
from pathlib import Path

import numpy as np
from aiohttp import ClientSession, TCPConnector, web

from tidewise.kube.extender.binder import Binder
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.server import Extender, application
from tidewise.kube.extender.state import GpuShareBook
from tidewise.kube.extender.tls import TlsFiles, server_context
from tidewise.model import Resources
from tidewise.testenv.pki import CertificateAuthority

VERBS = ("filter", "prioritize")
CLIENT_NAME = "tidewise-scheduler"  # the name deploy/extender's --client-name accepts
FRESH_CALLS = 50

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


def certificates(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server's context (client certificate required) and the client's (presenting one,
    checking the server's), from a fresh CA."""
    authority = CertificateAuthority(datetime.datetime.now(datetime.UTC))
    (folder / "ca.crt").write_bytes(authority.pem)
    authority.extender().write(folder, "extender")
    authority.client(CLIENT_NAME).write(folder, "scheduler")
    server = server_context(
        TlsFiles(folder / "extender.crt", folder / "extender.key", folder / "ca.crt")
    )
    client = ssl.create_default_context(cafile=folder / "ca.crt")
    client.load_cert_chain(folder / "scheduler.crt", folder / "scheduler.key")
    return server, client


async def serve(book: GpuShareBook, tls: ssl.SSLContext | None) -> tuple[web.AppRunner, str]:
    """The extender's app on a free loopback port; over TLS it also checks the client's name,
    as the shipped Deployment does."""
    synced = asyncio.Event()
    synced.set()
    metrics = ExtenderMetrics()
    names = (CLIENT_NAME,) if tls else ()
    binder = Binder(None, book, metrics)
    runner = web.AppRunner(
        application(Extender(book, binder, synced, metrics, client_names=names)),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


async def timed(session: ClientSession, url: str, body: dict, cpu: list[float]) -> float:
    """Seconds from request to parsed answer; appends to ``cpu`` the CPU seconds the process
    spent meanwhile (client and server share it: an upper bound of the server's work, which a
    busy machine does not inflate, unlike the wall time)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    async with session.post(url, json=body) as answer:
        await answer.json()
    cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


async def over_loopback(book: GpuShareBook, calls: int, rng: np.random.Generator) -> dict:
    """Each call over HTTP and over HTTPS in turn; then filter with a handshake per call."""
    with tempfile.TemporaryDirectory() as folder:
        server_tls, client_tls = certificates(Path(folder))
        plain, plain_url = await serve(book, None)
        secure, secure_url = await serve(book, server_tls)
        names = list(book.nodes)
        timings: dict[str, dict[str, list[float]]] = {
            transport: {verb: [] for verb in VERBS} for transport in ("http", "https")
        }
        fresh: list[float] = []
        cpu: dict[str, dict[str, list[float]]] = {
            transport: {verb: [] for verb in VERBS} for transport in ("http", "https")
        }
        try:
            async with (
                ClientSession() as http,
                ClientSession(connector=TCPConnector(ssl=client_tls)) as https,
            ):
                for i in range(calls):
                    gpu = MIX[int(rng.integers(len(MIX)))][0]
                    body = {"Pod": pod(i, gpu), "Nodes": None, "NodeNames": names}
                    for verb in VERBS:
                        for transport, session, url in (
                            ("http", http, plain_url),
                            ("https", https, secure_url),
                        ):
                            spent = cpu[transport][verb]
                            seconds = await timed(session, f"{url}/{verb}", body, spent)
                            timings[transport][verb].append(seconds)
                for i in range(FRESH_CALLS):
                    gpu = MIX[int(rng.integers(len(MIX)))][0]
                    body = {"Pod": pod(i, gpu), "Nodes": None, "NodeNames": names}
                    connector = TCPConnector(ssl=client_tls, force_close=True)
                    async with ClientSession(connector=connector) as once:
                        fresh.append(await timed(once, f"{secure_url}/filter", body, []))
        finally:
            await plain.cleanup()
            await secure.cleanup()
    result = {
        transport: {verb: percentiles(times) for verb, times in verbs.items()}
        for transport, verbs in timings.items()
    }
    result["https_over_http"] = {
        verb: {
            key: round(result["https"][verb][key] / result["http"][verb][key], 3)
            for key in ("p50_ms", "p99_ms")
        }
        for verb in VERBS
    }
    result["cpu_per_call"] = {
        transport: {verb: percentiles(times) for verb, times in verbs.items()}
        for transport, verbs in cpu.items()
    }
    result["https_new_connection"] = {"calls": FRESH_CALLS, "filter": percentiles(fresh)}
    return result


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
                "loopback": asyncio.run(over_loopback(book, args.calls, rng)),
                "in_process": in_process(book, args.calls, rng),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "extender_latency",
                "calls": args.calls,
                "machine": f"{platform.machine()}, {platform.python_version()}",
                "tls": f"{ssl.OPENSSL_VERSION}, TLS 1.2+, ECDSA P-256, client certificate",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
