"""The ElasticScaler controller against an in-memory API and a stand-in Prometheus."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.kube.controllers.fakes import FakeClient, fresh_metrics
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.prometheus import Endpoints, PrometheusError

T0 = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
QUERY = "sum(queue_depth)"


class FakePrometheus:
    def __init__(self, value: float | None) -> None:
        self.value = value

    def resolve(self, section):
        return Endpoints("http://prometheus:9090").resolve(section)

    async def query(self, promql: str, url: str | None = None) -> float:
        if self.value is None:
            raise PrometheusError(f"query {promql!r} returned no series")
        return self.value


def scaler(name="queue", **spec):
    metric = {
        "type": "External",
        "external": {
            "metric": {"name": "queue", "query": QUERY},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    up = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
    }
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [metric],
            "behavior": {"scaleUp": up},
            **spec,
        },
    }


class Rig:
    def __init__(self, obj, value, replicas=1):
        self.client = FakeClient({"ElasticScaler": [obj]})
        self.client.replicas[("Deployment", "web")] = replicas
        self.prometheus = FakePrometheus(value)
        self.at = T0
        self.new_controller()

    def new_controller(self):
        self.controller = ElasticScalerController(
            self.client, fresh_metrics(), self.prometheus, 15.0, clock=lambda: self.at
        )

    def sync(self, after_s: float = 15.0):
        self.at += timedelta(seconds=after_s)
        asyncio.run(self.controller.sync())

    @property
    def replicas(self) -> int:
        return self.client.replicas[("Deployment", "web")]


def test_scales_within_the_policy_and_explains_why():
    obj = scaler()
    rig = Rig(obj, value=70.0)
    rig.sync()
    assert rig.replicas == 3  # wants 7, at most 2 more per minute
    status = obj["status"]
    assert status["desiredReplicas"] == 3 and status["currentReplicas"] == 1
    assert status["rule"] == "behavior"
    assert status["metrics"] == [{"name": QUERY, "value": "70"}]
    assert status["history"]["scaleUp"] == [[2, rig.at.timestamp(), False]]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "True", "ScalingActive": "True"}
    rig.sync()
    assert rig.replicas == 3, "the period's budget is spent"
    rig.sync(after_s=45.0)
    assert rig.replicas == 5


def test_a_restarted_controller_keeps_the_rate_limit():
    obj = scaler()
    rig = Rig(obj, value=70.0)
    rig.sync()
    assert rig.replicas == 3
    rig.new_controller()  # the operator restarted: only the status remembers
    rig.sync()
    assert rig.replicas == 3
    rig.sync(after_s=45.0)
    assert rig.replicas == 5


def test_a_metric_error_holds_the_count_and_says_so():
    obj = scaler()
    rig = Rig(obj, value=None, replicas=4)
    rig.sync()
    assert rig.replicas == 4 and rig.client.scale_writes() == []
    active = next(c for c in obj["status"]["conditions"] if c["type"] == "ScalingActive")
    assert active["status"] == "False" and active["reason"] == "FailedGetMetrics"
    assert "returned no series" in active["message"]


def test_the_cron_floor_raises_the_count_and_survives_a_restart():
    jobs = [{"name": "morning", "schedule": "0 0 8 * * *", "targetSize": 6}]
    obj = scaler(cron={"jobs": jobs}, behavior={})
    rig = Rig(obj, value=10.0)
    rig.at = T0 - timedelta(minutes=1)
    rig.sync(after_s=30.0)
    assert rig.replicas == 1
    rig.sync(after_s=45.0)  # 08:00:15
    assert rig.replicas == 6 and obj["status"]["rule"] == "cron"
    assert obj["status"]["cron"]["floor"] == 6
    assert obj["status"]["cron"]["since"] == {"morning": "2026-11-28T08:00:00Z"}
    rig.new_controller()
    rig.sync()
    assert rig.replicas == 6 and obj["status"]["rule"] == "cron"


def test_a_missing_target_is_a_condition():
    obj = scaler()
    obj["spec"]["scaleTargetRef"]["name"] = "gone"
    rig = Rig(obj, value=10.0)
    rig.sync()
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "FailedGetScale"
    assert "gone not found" in ready["message"]


def pod(name, ready=True):
    status = "True" if ready else "False"
    started = (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "500m"}}}]},
        "status": {
            "phase": "Running",
            "startTime": started,
            "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": started}],
        },
    }


def usage(name, cpu, at):
    return {
        "metadata": {"name": name},
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window": "30s",
        "containers": [{"name": "main", "usage": {"cpu": cpu}}],
    }


CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


def test_resource_metrics_come_from_the_metrics_api():
    obj = scaler(metrics=[CPU], behavior={})
    rig = Rig(obj, value=None, replicas=2)
    rig.client.selectors["web"] = "app=web"
    rig.client.objects["Pod"] = [pod("web-1"), pod("web-2")]
    now = T0 + timedelta(seconds=15)
    rig.client.objects["PodMetrics"] = [usage("web-1", "500m", now), usage("web-2", "500m", now)]
    rig.sync()
    assert rig.replicas == 4  # 100 % of the request against a 50 % target
    assert obj["status"]["rule"] == "reactive"


def test_resource_metrics_without_a_metrics_api_say_so():
    obj = scaler(metrics=[CPU])
    rig = Rig(obj, value=None, replicas=2)
    rig.client.selectors["web"] = "app=web"
    rig.client.objects["Pod"] = [pod("web-1"), pod("web-2")]
    rig.sync()
    assert rig.replicas == 2
    active = next(c for c in obj["status"]["conditions"] if c["type"] == "ScalingActive")
    assert active["reason"] == "FailedGetMetrics" and "install metrics-server" in active["message"]


def test_predictive_adds_replicas_once_it_has_a_day_of_load():
    """The stand-in Prometheus answers 40 to every query: the queue metric asks for 4
    replicas, the load (40, replicas carrying 10 at 100 %, aimed at 50 %) forecasts 8."""
    predictive = {"enabled": True, "loadQuery": "sum(rate(requests_total[1m]))"}
    predictive |= {"replicaCapacity": 10, "targetUtilization": 0.5, "startupSeconds": 30}
    obj = scaler(predictive=predictive, behavior={})
    rig = Rig(obj, value=40.0)
    rig.sync(after_s=60.0)
    assert rig.replicas == 4 and obj["status"]["rule"] == "reactive"
    for _ in range(24 * 60):
        rig.sync(after_s=60.0)
    assert rig.replicas == 8 and obj["status"]["rule"] == "predictive"


def test_a_set_based_selector_is_a_metric_condition():
    obj = scaler(metrics=[CPU])
    rig = Rig(obj, value=None, replicas=2)
    rig.client.selectors["web"] = "app in (web)"
    rig.sync()
    assert rig.replicas == 2
    active = next(c for c in obj["status"]["conditions"] if c["type"] == "ScalingActive")
    assert "only key=value terms" in active["message"]
