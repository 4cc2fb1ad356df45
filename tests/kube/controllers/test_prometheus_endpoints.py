"""An object may only make the operator query the Prometheus endpoints its administrator
configured: a spec naming another URL gets a condition and a Warning Event, and no request
leaves the operator (before: any user who could create an ElasticScaler or a
ResourceRecommendation made the operator fetch any URL, inside the cluster's network)."""

import asyncio
from types import SimpleNamespace

import pytest
from aiohttp import web

from tests.kube.controllers.fakes import FakeClient, Wrapped, fresh_metrics
from tests.kube.controllers.test_elastic import scaler
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.prometheus import EndpointRefused, Endpoints, Prometheus
from tidewise.kube.controllers.recommendation import RecommendationController


class Recorder:
    """A Prometheus HTTP API on loopback that answers 1 and records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""

    async def query(self, request: web.Request) -> web.Response:
        self.requests.append(request.query.get("query", ""))
        data = {"resultType": "vector", "result": []}
        if request.query.get("query", "").startswith("sum"):
            data["result"] = [{"metric": {}, "value": [0, "1"]}]
        return web.json_response({"status": "success", "data": data})


def with_servers(count, scenario):
    """``scenario(*recorders)`` (a coroutine function) with ``count`` live Prometheus stand-ins."""

    async def main():
        recorders, runners = [], []
        for _ in range(count):
            recorder = Recorder()
            app = web.Application()
            app.router.add_get("/api/v1/query", recorder.query)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            recorders.append(recorder)
            runners.append(runner)
        try:
            await scenario(*recorders)
        finally:
            for runner in runners:
                await runner.cleanup()

    asyncio.run(main())


class EventClient(FakeClient):
    """The fake API, keeping the Events the controllers post."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = []

    async def create(self, obj):
        self.events.append(obj)

    async def get(self, res, name, namespace=None):
        kind = self.kind(res)
        if kind in self.objects:
            return Wrapped(next(o for o in self.objects[kind] if o["metadata"]["name"] == name))
        return await super().get(res, name, namespace)

    async def list(self, res, **kwargs):
        async for item in super().list(res, **kwargs):
            yield (
                SimpleNamespace(metadata=SimpleNamespace(**item["metadata"]))
                if self.kind(res) == "Pod"
                else item
            )


def condition(obj, kind):
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def test_an_elasticscaler_naming_a_url_not_configured_is_refused_without_a_request():
    async def scenario(allowed, evil):
        obj = scaler(prometheus={"url": f"{evil.url}/"})
        client = EventClient({"ElasticScaler": [obj]})
        client.replicas[("Deployment", "web")] = 1
        prometheus = Prometheus(allowed.url)
        await ElasticScalerController(client, fresh_metrics(), prometheus).sync()
        await prometheus.close()
        assert evil.requests == [] and allowed.requests == []
        ready = condition(obj, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "PrometheusNotAllowed")
        assert ready["message"].startswith(f"spec.prometheus.url: {evil.url}/ is not")
        [event] = client.events
        assert (event.reason, event.type) == ("PrometheusNotAllowed", "Warning")
        assert client.scale_writes() == []

    with_servers(2, scenario)


def test_an_elasticscaler_selects_a_configured_endpoint_by_name_or_by_its_url():
    async def scenario(default, team):
        prometheus = Prometheus(default.url, {"team-a": team.url})
        for section in ({"endpoint": "team-a"}, {"url": team.url}):
            obj = scaler(prometheus=section)
            client = EventClient({"ElasticScaler": [obj]})
            client.replicas[("Deployment", "web")] = 1
            await ElasticScalerController(client, fresh_metrics(), prometheus).sync()
            assert condition(obj, "ScalingActive")["status"] == "True", obj["status"]
        await prometheus.close()
        assert len(team.requests) == 2 and default.requests == []

    with_servers(2, scenario)


def test_a_resourcerecommendation_naming_a_url_not_configured_is_refused_without_a_request():
    async def scenario(allowed, evil):
        obj = {
            "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
            "spec": {
                "targetRef": {"kind": "Deployment", "name": "web"},
                "prometheus": {"url": evil.url},
            },
        }
        workload = {
            "metadata": {"name": "web", "namespace": "shop", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
        }
        pods = [{"metadata": {"name": "web-1", "namespace": "shop"}}]
        client = EventClient(
            {"ResourceRecommendation": [obj], "Deployment": [workload], "Pod": pods}
        )
        prometheus = Prometheus(allowed.url)
        await RecommendationController(client, fresh_metrics(), prometheus).sync()
        await prometheus.close()
        assert evil.requests == [] and allowed.requests == []
        usage = condition(obj, "UsageAvailable")
        assert (usage["status"], usage["reason"]) == ("False", "PrometheusNotAllowed")
        assert [e.reason for e in client.events] == ["PrometheusNotAllowed"]

    with_servers(2, scenario)


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"endpoint": "nope"}, "spec.prometheus.endpoint: 'nope' is not one of"),
        ({"url": "http://169.254.169.254/latest"}, "spec.prometheus.url: http://169.254"),
        ({"url": "http://prom.internal:9090.evil.example"}, "spec.prometheus.url"),
        ({"endpoint": "team-a", "url": "http://x"}, "endpoint or url, not both"),
    ],
)
def test_what_a_spec_may_select(section, says):
    endpoints = Endpoints("http://prom.internal:9090", {"team-a": "http://team-a.prom:9090/"})
    with pytest.raises(EndpointRefused, match=says):
        endpoints.resolve(section)
    assert endpoints.resolve(None) == "http://prom.internal:9090"
    assert endpoints.resolve({"endpoint": "team-a"}) == "http://team-a.prom:9090/"
    assert endpoints.resolve({"url": "http://prom.internal:9090/"}) == "http://prom.internal:9090"
