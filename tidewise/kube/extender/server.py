"""The extender's servers: ``POST /filter``, ``/prioritize``, ``/bind`` for kube-scheduler
(HTTPS with its client certificate, ``tls``), and beside them, on a port of their own,
``GET /healthz``, ``/readyz`` and ``/metrics`` for the kubelet and Prometheus (which present no
client certificate).

Why aiohttp (not starlette + uvicorn): one well-kept package gives the asyncio HTTP server
and the client the latency benchmark drives it with, and it is what kopf (the operator, issue
7 item 4) already runs on, so the project carries one HTTP stack rather than two. The
extender is small and answers JSON only; a framework's routing or validation would add
nothing.

Until the first listing is in, every verb answers an error: a decision from empty books could
double-book a GPU, whereas an error only makes the scheduler try the pod again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from lightkube import AsyncClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tidewise.kube.api.lease import LeaseElector
from tidewise.kube.api.resources import PodRequestError, pod_request
from tidewise.kube.extender.binder import NOT_LEADER, Binder
from tidewise.kube.extender.leader import LEASE_NAME, Leadership
from tidewise.kube.extender.metrics import VERBS, ExtenderMetrics
from tidewise.kube.extender.protocol import (
    ProtocolError,
    binding_args,
    binding_result,
    extender_args,
    filter_error,
    filter_result,
    host_priority_list,
)
from tidewise.kube.extender.requeue import Requeuer
from tidewise.kube.extender.state import GpuShareBook
from tidewise.kube.extender.tls import ServingTls, allowed
from tidewise.kube.extender.watch import Sync
from tidewise.model import Resources

log = logging.getLogger(__name__)

NOT_SYNCED = "the GPU-share extender has not listed the cluster yet; try again"
TLS_RELOAD_S = 60.0  # how often the certificate files are checked for a renewal


@dataclass(frozen=True)
class Extender:
    """What the handlers answer from: the books, who binds, and what they report to."""

    book: GpuShareBook
    binder: Binder
    synced: asyncio.Event
    metrics: ExtenderMetrics
    leading: Callable[[], bool] = lambda: True
    rejected: Callable[[Mapping[str, Any]], None] = lambda pod: None
    client_names: Collection[str] = ()


EXTENDER = web.AppKey("extender", Extender)
OUTCOME = web.RequestKey("outcome", str)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as error:
        raise ProtocolError(f"body is not JSON: {error}") from None


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def _shape(book: GpuShareBook, pod: dict[str, Any]) -> Resources:
    shape = pod_request(pod)
    book.meet(_uid(pod), shape)
    return shape


def _answer(request: web.Request, outcome: str, body: Any, status: int = 200) -> web.Response:
    request[OUTCOME] = outcome
    if status == 200:
        return web.json_response(body)
    return web.Response(status=status, text=body)


async def filter_handler(request: web.Request) -> web.Response:
    extender = request.app[EXTENDER]
    if not extender.synced.is_set():
        return _answer(request, "not_synced", filter_error(NOT_SYNCED))
    try:
        args = extender_args(await _body(request))
        shape = _shape(extender.book, dict(args.pod))
        verdict = extender.book.filter(shape, args.names, _uid(args.pod))
    except (ProtocolError, PodRequestError) as error:
        return _answer(request, "error", filter_error(str(error)))
    if not verdict.passed and verdict.failed:
        extender.rejected(args.pod)  # for want of room: worth trying again when room appears
    return _answer(request, "ok", filter_result(args, verdict))


async def prioritize_handler(request: web.Request) -> web.Response:
    extender = request.app[EXTENDER]
    if not extender.synced.is_set():
        return _answer(request, "not_synced", NOT_SYNCED, status=503)
    try:
        args = extender_args(await _body(request))
        shape = _shape(extender.book, dict(args.pod))
        scores = extender.book.prioritize(shape, args.names, _uid(args.pod))
    except (ProtocolError, PodRequestError) as error:
        return _answer(request, "error", str(error), status=400)
    return _answer(request, "ok", host_priority_list(scores))


async def bind_handler(request: web.Request) -> web.Response:
    extender = request.app[EXTENDER]
    if not extender.synced.is_set():
        return _answer(request, "not_synced", binding_result(NOT_SYNCED))
    try:
        args = binding_args(await _body(request))
    except ProtocolError as error:
        extender.metrics.bind_failures.labels(reason="bad_request").inc()
        return _answer(request, "error", binding_result(str(error)))
    failure = await extender.binder.bind(args)
    outcome = "ok" if not failure else "not_leader" if failure == NOT_LEADER else "error"
    return _answer(request, outcome, binding_result(failure))


@web.middleware
async def guarded(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse clients whose certificate names none of the accepted names; time and count each
    verb; a standby closes the connection after answering, so that the scheduler's next
    request opens one the Service routes to the leader."""
    extender = request.app[EXTENDER]
    if extender.client_names:
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        if not allowed(peercert, extender.client_names):
            return web.Response(status=403, text="client certificate not accepted")
    verb = request.path.strip("/")
    started = time.perf_counter()
    try:
        response = await handler(request)
    finally:
        if verb in VERBS:
            extender.metrics.request_seconds.labels(verb=verb).observe(
                time.perf_counter() - started
            )
            outcome = request.get(OUTCOME, "error")
            extender.metrics.requests.labels(verb=verb, outcome=outcome).inc()
    if not extender.leading():
        response.force_close()
    return response


def application(extender: Extender) -> web.Application:
    """The scheduler's routes over a book; whoever fills the book sets ``synced``."""
    app = web.Application(middlewares=[guarded])
    app[EXTENDER] = extender
    app.router.add_post("/filter", filter_handler)
    app.router.add_post("/prioritize", prioritize_handler)
    app.router.add_post("/bind", bind_handler)
    return app


def health_application(extender: Extender) -> web.Application:
    """``/healthz``: the process answers (liveness); ``/readyz``: the books are listed
    (readiness: a replica that cannot list the cluster gets no traffic); ``/metrics``."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if extender.synced.is_set():
            return web.Response(text="ok")
        return web.Response(status=503, text=NOT_SYNCED)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(extender.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


@dataclass(frozen=True)
class Listen:
    """Where to serve: the scheduler's verbs on ``host:port`` (HTTPS when ``tls``), the
    health and metrics endpoints on ``health_host:health_port`` (plain HTTP)."""

    host: str
    port: int
    health_host: str
    health_port: int
    tls: ServingTls | None = None
    client_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Election:
    """Leader election among replicas: the Lease ``namespace/name``, held as ``identity``;
    ``pod`` (namespace, name) is labelled with the replica's role."""

    namespace: str
    identity: str
    name: str = LEASE_NAME
    duration_s: int = 15
    pod: tuple[str, str] | None = None


async def reload_tls(tls: ServingTls) -> None:
    """Pick up renewed certificate files (``tls.ServingTls``) until cancelled."""
    while True:
        await asyncio.sleep(TLS_RELOAD_S)
        tls.reload_if_changed()


async def serve(
    client: AsyncClient, listen: Listen, election: Election | None = None, hami: bool = True
) -> None:
    """Serve until cancelled, keeping the books in step with the cluster; ``hami``: write
    HAMi's annotations on pods bound to nodes where its device plugin registered."""
    metrics, book = ExtenderMetrics(), GpuShareBook()
    metrics.watch_books(book)
    elector = None
    if election is not None:
        elector = LeaseElector(
            client, election.namespace, election.identity, election.name, election.duration_s
        )
    leadership = Leadership(metrics, elector, client, election.pod if election else None)
    synced = asyncio.Event()
    requeuer = Requeuer(client, metrics, serving=synced.is_set, leading=leadership)
    sync = Sync(client, book, metrics, freed=requeuer.freed, synced=synced)
    extender = Extender(
        book,
        Binder(client, book, metrics, leading=leadership, hami=hami),
        synced,
        metrics,
        leadership,
        requeuer.rejected_pod,
        listen.client_names,
    )
    runners = []
    try:
        context = listen.tls.context if listen.tls else None
        for app, host, port, tls in (
            (application(extender), listen.host, listen.port, context),
            (health_application(extender), listen.health_host, listen.health_port, None),
        ):
            runner = web.AppRunner(app, access_log=None)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, host, port, ssl_context=tls).start()
        scheme = "https" if listen.tls else "http"
        log.info(
            "GPU-share extender on %s://%s:%d, health and metrics on http://%s:%d",
            scheme,
            listen.host,
            listen.port,
            listen.health_host,
            listen.health_port,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(sync.run())
            group.create_task(leadership.run())
            group.create_task(requeuer.run())
            if listen.tls is not None:
                group.create_task(reload_tls(listen.tls))
    finally:
        for runner in runners:
            await runner.cleanup()
