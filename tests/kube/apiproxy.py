"""A proxy in front of the test cluster's API server that injects faults into one client's
traffic: Bindings held for ever, watch events swallowed, a watch ended with 410 Gone.

Why a proxy: the faults must hit the extender as a separate process (``tidewise extender
serve``, killed with SIGKILL), the way they would in a cluster, without any hook in the code
under test. The client reaches the proxy over plain HTTP on loopback with a kubeconfig of its
own (:meth:`ApiProxy.kubeconfig`); the proxy speaks to the API server as the admin.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from pathlib import Path

import aiohttp
from aiohttp import web

from tidewise.testenv.cluster import free_ports

GONE = {
    "type": "ERROR",
    "object": {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version: injected by the test proxy",
        "reason": "Expired",
        "code": 410,
    },
}
HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


class ApiProxy:
    """Forwards everything to ``server``; the fault switches are plain attributes."""

    def __init__(self, server: str, pki: Path) -> None:
        self.server, self.pki = server, pki
        self.port = free_ports(("proxy",))["proxy"]
        self.hold_bindings = False  # POST .../binding never reaches the API server
        self.swallow_events = False  # watch events are read and dropped
        self.held = 0  # Bindings held so far
        self.loop = asyncio.new_event_loop()
        self._gone: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def kubeconfig(self, folder: Path) -> Path:
        path = folder / "proxy.kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}
                    ],
                    "users": [{"name": "proxy", "user": {}}],
                    "contexts": [
                        {"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}
                    ],
                    "current-context": "proxy",
                }
            )
        )
        return path

    def __enter__(self) -> ApiProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def end_watches_with_gone(self) -> None:
        """Every watch open now ends with a 410 Gone ERROR event, as when its
        resourceVersion is compacted away."""

        def fire() -> None:
            assert self._gone is not None
            self._gone.set()
            self._gone = asyncio.Event()

        self.loop.call_soon_threadsafe(fire)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._session, self._runner = self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _stop(self) -> None:
        """Close the listener, end the requests still held or streaming, then the upstream
        session."""
        await self._runner.cleanup()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._session.close()

    async def _start(self) -> tuple[aiohttp.ClientSession, web.AppRunner]:
        self._gone = asyncio.Event()
        context = ssl.create_default_context(cafile=self.pki / "ca.crt")
        context.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        app = web.Application()

        async def forward(request: web.Request) -> web.StreamResponse:
            return await self._forward(request, session)

        app.router.add_route("*", "/{path:.*}", forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return session, runner

    async def _forward(self, request: web.Request, session: aiohttp.ClientSession):
        if request.method == "POST" and request.path.endswith("/binding") and self.hold_bindings:
            self.held += 1
            await asyncio.Event().wait()  # never answered, never forwarded
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with session.request(
            request.method,
            self.server + request.path_qs,
            data=body or None,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as upstream:
            if request.query.get("watch") not in ("true", "1"):
                return web.Response(
                    status=upstream.status,
                    body=await upstream.read(),
                    content_type=upstream.content_type,
                )
            answer = web.StreamResponse(status=upstream.status)
            answer.content_type = upstream.content_type
            await answer.prepare(request)
            assert self._gone is not None
            gone = asyncio.ensure_future(self._gone.wait())
            try:
                while True:
                    line = asyncio.ensure_future(upstream.content.readline())
                    await asyncio.wait({line, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if gone.done():
                        line.cancel()
                        await answer.write(json.dumps(GONE).encode() + b"\n")
                        break
                    if not line.result():
                        break
                    if not self.swallow_events:
                        await answer.write(line.result())
            finally:
                gone.cancel()
            return answer
