"""The extender's HTTP server: ``POST /filter``, ``/prioritize``, ``/bind``; ``GET /healthz``.

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
from typing import Any

from aiohttp import web
from lightkube import AsyncClient

from tidewise.kube.api.resources import PodRequestError, pod_request
from tidewise.kube.extender.binder import Binder
from tidewise.kube.extender.protocol import (
    ProtocolError,
    binding_args,
    binding_result,
    extender_args,
    filter_error,
    filter_result,
    host_priority_list,
)
from tidewise.kube.extender.state import GpuShareBook
from tidewise.kube.extender.watch import follow
from tidewise.model import Resources

log = logging.getLogger(__name__)

NOT_SYNCED = "the GPU-share extender has not listed the cluster yet; try again"

BOOK = web.AppKey("book", GpuShareBook)
SYNCED = web.AppKey("synced", asyncio.Event)
BINDER = web.AppKey("binder", Binder)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as error:
        raise ProtocolError(f"body is not JSON: {error}") from None


def _shape(book: GpuShareBook, pod: dict[str, Any]) -> Resources:
    shape = pod_request(pod)
    book.meet(str((pod.get("metadata") or {}).get("uid", "")), shape)
    return shape


async def filter_handler(request: web.Request) -> web.Response:
    book = request.app[BOOK]
    if not request.app[SYNCED].is_set():
        return web.json_response(filter_error(NOT_SYNCED))
    try:
        args = extender_args(await _body(request))
        verdict = book.filter(_shape(book, dict(args.pod)), args.names)
    except (ProtocolError, PodRequestError) as error:
        return web.json_response(filter_error(str(error)))
    return web.json_response(filter_result(args, verdict))


async def prioritize_handler(request: web.Request) -> web.Response:
    book = request.app[BOOK]
    if not request.app[SYNCED].is_set():
        raise web.HTTPServiceUnavailable(text=NOT_SYNCED)
    try:
        args = extender_args(await _body(request))
        scores = book.prioritize(_shape(book, dict(args.pod)), args.names)
    except (ProtocolError, PodRequestError) as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    return web.json_response(host_priority_list(scores))


async def bind_handler(request: web.Request) -> web.Response:
    if not request.app[SYNCED].is_set():
        return web.json_response(binding_result(NOT_SYNCED))
    try:
        args = binding_args(await _body(request))
    except ProtocolError as error:
        return web.json_response(binding_result(str(error)))
    return web.json_response(binding_result(await request.app[BINDER].bind(args)))


async def healthz_handler(request: web.Request) -> web.Response:
    if request.app[SYNCED].is_set():
        return web.Response(text="ok")
    raise web.HTTPServiceUnavailable(text=NOT_SYNCED)


def application(book: GpuShareBook, binder: Binder, synced: asyncio.Event) -> web.Application:
    """The routes over a book; whoever fills the book sets ``synced``."""
    app = web.Application()
    app[BOOK] = book
    app[BINDER] = binder
    app[SYNCED] = synced
    app.router.add_post("/filter", filter_handler)
    app.router.add_post("/prioritize", prioritize_handler)
    app.router.add_post("/bind", bind_handler)
    app.router.add_get("/healthz", healthz_handler)
    return app


async def serve(client: AsyncClient, host: str, port: int) -> None:
    """Serve until cancelled, keeping the books in step with the cluster."""
    book = GpuShareBook()
    synced = asyncio.Event()
    runner = web.AppRunner(application(book, Binder(client, book), synced), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("GPU-share extender listening on http://%s:%d", host, port)
    try:
        await follow(client, book, synced)
    finally:
        await runner.cleanup()
