"""The Kong adapter's exact Admin API calls, recorded by an aiohttp server standing for Kong."""

import asyncio

import pytest
from aiohttp import web

from tidewise.kube.traffic import GatewayError
from tidewise.kube.traffic.kong import KongAdmin, KongGateway

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
