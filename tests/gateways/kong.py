"""A stand-in for Kong's Admin API in either of its modes, answering as Kong documents it.

With a database (``database: postgres``) the targets are entities: ``GET`` pages them one per
page with Kong's ``next``, ``POST`` adds one (201), ``PATCH`` sets a weight (200). DB-less
(``database: off``) serves the same reads but answers every entity write ``405`` with
Kong's ``operation unsupported`` body, and the configuration moves whole through ``/config``:
``GET`` answers ``{"config": <YAML>}`` as Kong exports it (format 3.0, ``_transform: false``,
a flat list per entity, foreign keys as ids), ``POST`` takes ``{"config": <YAML or JSON>}``
(or the document itself), answers 400 without a declarative configuration, 304 with
``check_hash=1`` when nothing changed, else 201. ``GET /`` tells the mode
(``configuration.database``). Sources: Kong's Admin API reference and DB-less guide; the
handlers in Kong's ``kong/api/routes/config.lua`` and ``kong/db/strategies/off``.

``html`` makes the next calls answer an HTML error page with 200, as a proxy or a load balancer
in front of a misconfigured Admin API does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

import yaml
from aiohttp import web

TARGETS = {"a": "ingress.cluster-a.internal:443", "b": "ingress.cluster-b.internal:443"}
UPSTREAM_ID = "4e8d6e1c-6f1b-4bb5-9d8f-6a3ec8b7a001"
SERVICE = {
    "id": "0c4b8ea1-54bd-4b1c-95f1-0a3b6de2c001",
    "name": "app",
    "host": "app",
    "port": 80,
    "protocol": "http",
    "retries": 5,
    "connect_timeout": 60000,
    "tags": ["tidewise-fleet"],
}
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class FakeKong:
    """Targets of upstream ``app`` (target -> weight), and every call as (method, path, body)."""

    def __init__(self, mode: str = "db") -> None:
        self.mode = mode
        self.calls: list[tuple[str, str, Any]] = []
        self.targets: dict[str, dict[str, int]] = {"app": {TARGETS["a"]: 100}}
        self.loads: list[dict[str, Any]] = []  # DB-less: each configuration loaded
        self.html = 0  # answer the next this many calls with an HTML page

    def _html(self) -> web.Response | None:
        if self.html:
            self.html -= 1
            return web.Response(body=HTML, content_type="text/html")
        return None

    async def root(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", "/", None))
        database = "off" if self.mode == "dbless" else "postgres"
        answer = {
            "version": "3.9.1",
            "configuration": {"database": database, "role": "traditional"},
        }
        return self._html() or web.json_response(answer)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.method, request.raw_path, body))
        if (page := self._html()) is not None:
            return page
        upstream = request.match_info["upstream"]
        if upstream not in self.targets:
            return web.json_response({"message": "Not found"}, status=404)
        targets = self.targets[upstream]
        if request.method == "GET":
            names = sorted(targets)
            offset = int(request.query.get("offset", 0))
            data = [
                {"target": t, "weight": targets[t], "upstream": {"id": UPSTREAM_ID}}
                for t in names[offset : offset + 1]
            ]
            more = offset + 1 < len(names)
            next_page = f"/upstreams/{upstream}/targets?offset={offset + 1}" if more else None
            return web.json_response({"data": data, "next": next_page})
        if self.mode == "dbless":
            verb = "create" if request.method == "POST" else "update"
            refusal = {
                "code": 12,
                "name": "operation unsupported",
                "message": f"cannot {verb} 'targets' entities when not using a database",
            }
            return web.json_response(refusal, status=405)
        if request.method == "POST":
            targets[body["target"]] = body["weight"]
            return web.json_response(
                {"target": body["target"], "weight": body["weight"]}, status=201
            )
        target = request.match_info["target"]
        targets[target] = body["weight"]  # PATCH
        return web.json_response({"target": target, "weight": body["weight"]})

    async def health(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.raw_path, None))
        data = [
            {"target": t, "weight": w, "health": "HEALTHY"} for t, w in self.targets["app"].items()
        ]
        return web.json_response({"data": data})

    async def healthz(self, request: web.Request) -> web.Response:
        """The clusters' health URL (both clusters answer here)."""
        return web.json_response({"ok": True})

    def export(self) -> dict[str, Any]:
        """The configuration as ``GET /config`` exports it."""
        upstream = {"id": UPSTREAM_ID, "name": "app", "algorithm": "round-robin", "slots": 10000}
        targets = [
            {"id": f"t-{i}", "target": t, "weight": w, "upstream": UPSTREAM_ID, "tags": None}
            for i, (t, w) in enumerate(sorted(self.targets["app"].items()))
        ]
        return {
            "_format_version": "3.0",
            "_transform": False,
            "services": [SERVICE],
            "upstreams": [upstream],
            "targets": targets,
        }

    def _hash(self) -> str:
        return hashlib.md5(json.dumps(self.export(), sort_keys=True).encode()).hexdigest()

    async def config(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            self.calls.append(("GET", "/config", None))
            if self.mode != "dbless":
                return _only_dbless()
            return self._html() or web.json_response({"config": yaml.safe_dump(self.export())})
        body = await request.json()
        self.calls.append(("POST", request.raw_path, body))
        if (page := self._html()) is not None:
            return page
        if self.mode != "dbless":
            return _only_dbless()
        document = body if "_format_version" in body else yaml.safe_load(body.get("config", ""))
        if not isinstance(document, dict) or "_format_version" not in document:
            return web.json_response({"message": "expected a declarative configuration"}, 400)
        before = self._hash()
        ids = {u["id"]: u["name"] for u in document.get("upstreams", [])}
        loaded: dict[str, dict[str, int]] = {name: {} for name in ids.values()}
        for target in document.get("targets", []):
            loaded[ids.get(target["upstream"], target["upstream"])][target["target"]] = target[
                "weight"
            ]
        for upstream in document.get("upstreams", []):
            for target in upstream.get("targets", []):
                loaded[upstream["name"]][target["target"]] = target["weight"]
        previous, self.targets = self.targets, loaded
        if request.query.get("check_hash") == "1" and self._hash() == before:
            self.targets = previous
            return web.Response(status=304)
        self.loads.append(document)
        return web.json_response({"upstreams": document.get("upstreams", [])}, status=201)


def _only_dbless() -> web.Response:
    message = "this endpoint is only available when Kong is configured to not use a database"
    return web.json_response({"message": message}, status=400)


def with_kong(scenario: Callable[[str, FakeKong], None], mode: str = "db") -> None:
    """Run ``scenario(admin_url, kong)`` (blocking client code) against a live fake Kong."""

    async def main() -> None:
        kong = FakeKong(mode)
        app = web.Application()
        app.router.add_get("/", kong.root)
        app.router.add_route("*", "/config", kong.config)
        app.router.add_route("*", "/upstreams/{upstream}/targets", kong.handle)
        app.router.add_route("*", "/upstreams/{upstream}/targets/{target}", kong.handle)
        app.router.add_get("/upstreams/{upstream}/health", kong.health)
        app.router.add_get("/healthz", kong.healthz)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            await asyncio.to_thread(scenario, f"http://127.0.0.1:{port}", kong)
        finally:
            await runner.cleanup()

    asyncio.run(main())
