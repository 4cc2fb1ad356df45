"""The Kong adapter's exact Admin API calls, recorded by an aiohttp server standing for Kong."""

import asyncio

import pytest
import yaml
from aiohttp import web
from typer.testing import CliRunner

from tidewise.cli import app
from tidewise.gateways import GatewayError
from tidewise.gateways.kong import KongAdmin, KongGateway

TARGETS = {"a": "ingress.cluster-a.internal:443", "b": "ingress.cluster-b.internal:443"}


class FakeKong:
    """Keeps targets per upstream, pages them one per page, records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict | None]] = []
        self.targets: dict[str, dict[str, int]] = {"app": {TARGETS["a"]: 100}}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.method, request.raw_path, body))
        upstream = request.match_info["upstream"]
        if upstream not in self.targets:
            return web.json_response({"message": "Not found"}, status=404)
        targets = self.targets[upstream]
        target = request.match_info.get("target")
        if request.method == "GET":
            names = sorted(targets)
            offset = int(request.query.get("offset", 0))
            page = {
                "data": [{"target": t, "weight": targets[t]} for t in names[offset : offset + 1]]
            }
            page["next"] = (
                f"/upstreams/{upstream}/targets?offset={offset + 1}"
                if offset + 1 < len(names)
                else None
            )
            return web.json_response(page)
        if request.method == "POST":
            targets[body["target"]] = body["weight"]
            return web.json_response(
                {"target": body["target"], "weight": body["weight"]}, status=201
            )
        targets[target] = body["weight"]  # PATCH
        return web.json_response({"target": target, "weight": body["weight"]})

    async def healthz(self, request: web.Request) -> web.Response:
        """The clusters' health URL (both clusters answer here)."""
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.raw_path, None))
        data = [
            {"target": t, "weight": w, "health": "HEALTHY"} for t, w in self.targets["app"].items()
        ]
        return web.json_response({"data": data})


def with_kong(scenario):
    """Run ``scenario(admin_url, kong)`` (blocking client code) against a live fake Kong."""

    async def main():
        kong = FakeKong()
        app = web.Application()
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


def test_apply_patches_existing_targets_and_creates_missing_ones():
    def scenario(url, kong):
        gateway = KongGateway(KongAdmin(url), "app", TARGETS)
        gateway.apply({"a": 70, "b": 30})
        assert kong.calls == [
            ("GET", "/upstreams/app/targets", None),
            ("PATCH", "/upstreams/app/targets/ingress.cluster-a.internal:443", {"weight": 70}),
            ("POST", "/upstreams/app/targets", {"target": TARGETS["b"], "weight": 30}),
        ]
        kong.calls.clear()
        gateway.apply({"a": 0, "b": 100})
        assert kong.calls == [
            ("GET", "/upstreams/app/targets", None),
            ("GET", "/upstreams/app/targets?offset=1", None),  # Kong's next page
            ("PATCH", "/upstreams/app/targets/ingress.cluster-b.internal:443", {"weight": 100}),
            ("PATCH", "/upstreams/app/targets/ingress.cluster-a.internal:443", {"weight": 0}),
        ]
        assert gateway.read_weights() == {"a": 0, "b": 100}
        assert KongAdmin(url).health("app") == {TARGETS["a"]: "HEALTHY", TARGETS["b"]: "HEALTHY"}
        assert kong.calls[-1] == ("GET", "/upstreams/app/health", None)

    with_kong(scenario)


def test_kong_errors_name_the_call_and_its_answer():
    def scenario(url, kong):
        with pytest.raises(GatewayError, match=r"Kong GET /upstreams/nope/targets: HTTP 404"):
            KongGateway(KongAdmin(url), "nope", TARGETS).read_weights()
        with pytest.raises(GatewayError, match=r"0\.\.65535"):
            KongAdmin(url).set_weight("app", TARGETS["a"], 70000)

    with_kong(scenario)
    with pytest.raises(GatewayError, match=r"Kong Admin API at http://127\.0\.0\.1:9"):
        KongAdmin("http://127.0.0.1:9", timeout_s=2).targets("app")


def test_fleet_shift_through_kong_patches_weight_step_by_step(tmp_path):
    def scenario(url, kong):
        kong.targets["app"] = {TARGETS["a"]: 100, TARGETS["b"]: 0}
        clusters = {
            c: {"address": address, "health_url": f"{url}/healthz"}
            for c, address in TARGETS.items()
        }
        config = tmp_path / "fleet.yaml"
        config.write_text(yaml.safe_dump({"clusters": clusters}))
        args = ["fleet", "shift", "-c", str(config), "--to", "b", "--ratio", "30"]
        args += ["--interval-s", "0", "--adapter", "kong", "--admin-url", url, "--upstream", "app"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        patches = [
            (path.rsplit("/", 1)[1], body["weight"]) for m, path, body in kong.calls if m == "PATCH"
        ]
        a, b = TARGETS["a"], TARGETS["b"]
        assert patches == [(a, 90), (b, 10), (a, 80), (b, 20), (a, 70), (b, 30)]
        assert kong.targets["app"] == {a: 70, b: 30}

    with_kong(scenario)
