"""The ElasticScaler on vLLM signals and KServe InferenceService targets, against an in-memory
API: the queries it runs, what it writes in each of KServe's modes, its Events and status."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.kube.controllers.fakes import FakeClient, fresh_metrics
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.prometheus import Endpoints, PrometheusError

T0 = datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)
ISVC = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": "chat"}
NOW_BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 0},
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    },
}


class SignalPrometheus:
    """Answers each vLLM query by the metric it reads; records every query asked."""

    def __init__(self, **values: float) -> None:
        self.values = values
        self.asked: list[str] = []

    def resolve(self, section):
        return Endpoints("http://prometheus:9090").resolve(section)

    async def query(self, promql: str, url: str | None = None) -> float:
        self.asked.append(promql)
        for name, value in self.values.items():
            if name in promql:
                return value
        raise PrometheusError(f"query {promql!r} returned no series")


def elastic(target=ISVC, low=0, high=6, **vllm):
    return {
        "metadata": {"name": "chat", "namespace": "llm", "uid": "uid-chat", "generation": 1},
        "spec": {
            "scaleTargetRef": target,
            "minReplicas": low,
            "maxReplicas": high,
            "vllm": vllm or {"waitingRequests": 5},
            "behavior": NOW_BEHAVIOR,
        },
    }


def isvc(mode=None, low=None):
    annotations = {"serving.kserve.io/deploymentMode": mode} if mode else {}
    predictor = {"model": {"modelFormat": {"name": "huggingface"}}}
    if low is not None:
        predictor["minReplicas"] = low
    return {
        "metadata": {"name": "chat", "namespace": "llm", "annotations": annotations},
        "spec": {"predictor": predictor},
    }


def ready_pod(name):
    since = (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {"type": "Ready", "status": "True", "lastTransitionTime": since}
    return {
        "metadata": {"name": name, "labels": {"serving.kserve.io/inferenceservice": "chat"}},
        "spec": {"containers": [{"name": "kserve-container"}]},
        "status": {"phase": "Running", "startTime": since, "conditions": [condition]},
    }


class Rig:
    def __init__(self, obj, service, prometheus, replicas=1):
        self.obj = obj
        self.client = FakeClient({"ElasticScaler": [obj], "InferenceService": [service]})
        self.client.replicas[("Deployment", "chat-predictor")] = replicas
        self.client.selectors["chat-predictor"] = "serving.kserve.io/inferenceservice=chat"
        self.prometheus = prometheus
        self.at = T0
        self.controller = ElasticScalerController(
            self.client, fresh_metrics(), prometheus, 15.0, clock=lambda: self.at
        )

    def sync(self):
        self.at += timedelta(seconds=15)
        asyncio.run(self.controller.sync())

    @property
    def status(self):
        return self.obj["status"]


def test_raw_deployment_scales_the_predictor_to_the_queue_and_to_zero_and_back():
    prometheus = SignalPrometheus(num_requests_waiting=22)
    rig = Rig(elastic(), isvc("RawDeployment"), prometheus)
    rig.sync()
    assert rig.client.scale_writes() == [("chat-predictor", 5)]  # ceil(22 / 5)
    assert prometheus.asked == [
        'sum(vllm:num_requests_waiting{namespace="llm",pod=~"chat\\\\-predictor-.+"})'
    ]
    assert rig.status["deploymentMode"] == "RawDeployment"
    assert rig.status["signals"] == [{"name": "vllm-waiting", "replicas": 5, "value": "22"}]
    assert ("SuccessfulRescale", "New size: 5; reason: reactive (was 1)") in rig.client.events

    prometheus.values["num_requests_waiting"] = 0
    rig.sync()
    assert rig.client.replicas[("Deployment", "chat-predictor")] == 0
    prometheus.values["num_requests_waiting"] = 3  # a buffered request at zero
    rig.sync()
    assert rig.client.scale_writes()[-2:] == [("chat-predictor", 0), ("chat-predictor", 1)]


def test_the_ceiling_holds_and_the_status_names_the_most_demanding_signal():
    prometheus = SignalPrometheus(num_requests_waiting=10, kv_cache_usage_perc=0.95)
    rig = Rig(
        elastic(high=3, waitingRequests=5, kvCacheUsage=0.5),
        isvc("RawDeployment"),
        prometheus,
        replicas=2,
    )
    rig.client.objects["Pod"] = [ready_pod("chat-predictor-a"), ready_pod("chat-predictor-b")]
    rig.sync()
    assert rig.client.replicas[("Deployment", "chat-predictor")] == 3  # KV wants 4, ceiling 3
    signals = {s["name"]: s["replicas"] for s in rig.status["signals"]}
    assert signals == {"vllm-waiting": 2, "vllm-kv-cache": 4}


def test_serverless_sets_the_predictors_floor_and_ceiling_and_leaves_the_rest_to_knative():
    prometheus = SignalPrometheus(num_requests_waiting=12)
    service = isvc(low=1)  # no annotation: KServe's default mode, Serverless
    rig = Rig(elastic(high=8), service, prometheus)
    rig.sync()
    assert service["spec"]["predictor"]["minReplicas"] == 3
    assert service["spec"]["predictor"]["maxReplicas"] == 8
    assert rig.client.scale_writes() == []  # no Deployment /scale: Knative owns the count
    assert rig.status["deploymentMode"] == "Serverless"
    told = [m for r, m in rig.client.events if r == "SuccessfulRescale"]
    assert told == [
        "New floor: 3 (was 1), ceiling 8; reason: reactive; Serverless: Knative scales between them"
    ]
    prometheus.values["num_requests_waiting"] = 0
    rig.sync()
    assert service["spec"]["predictor"]["minReplicas"] == 0  # Knative may now scale to zero


def test_serverless_writes_the_ceiling_even_when_the_floor_stands():
    prometheus = SignalPrometheus(num_requests_waiting=4)
    service = isvc(low=1)
    rig = Rig(elastic(high=5), service, prometheus)
    rig.sync()
    assert service["spec"]["predictor"] == {
        "model": {"modelFormat": {"name": "huggingface"}},
        "minReplicas": 1,
        "maxReplicas": 5,
    }


def test_a_seldon_like_custom_resource_is_scaled_through_its_scale_subresource():
    prometheus = SignalPrometheus(num_requests_running=40)
    seldon = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "name": "chat",
    }
    rig = Rig(elastic(target=seldon, runningRequests=16), isvc(), prometheus)
    rig.client.replicas[("SeldonDeployment", "chat")] = 1
    rig.sync()
    assert rig.client.replicas[("SeldonDeployment", "chat")] == 3
    assert prometheus.asked == ['sum(vllm:num_requests_running{namespace="llm",pod=~"chat-.+"})']
    assert rig.status["deploymentMode"] is None  # a merge patch's null: removed


def test_a_missing_signal_is_a_metric_condition_and_holds_the_count():
    rig = Rig(elastic(), isvc("RawDeployment"), SignalPrometheus(), replicas=2)
    rig.sync()
    assert rig.client.scale_writes() == []
    active = {c["type"]: c for c in rig.status["conditions"]}["ScalingActive"]
    assert active["status"] == "False" and "returned no series" in active["message"]


def test_a_bad_vllm_field_is_an_invalid_spec():
    rig = Rig(elastic(kvCacheUsage=80), isvc("RawDeployment"), SignalPrometheus())
    rig.sync()
    ready = {c["type"]: c for c in rig.status["conditions"]}["Ready"]
    assert ready["reason"] == "InvalidSpec"
    assert ready["message"].startswith("spec.vllm.kvCacheUsage: a fraction in (0, 1]")


def test_kserve_0_16_s_mode_names_are_read_as_the_old_ones():
    prometheus = SignalPrometheus(num_requests_waiting=22)
    standard = isvc()
    standard["status"] = {"deploymentMode": "Standard"}
    rig = Rig(elastic(), standard, prometheus)
    rig.sync()
    assert rig.client.scale_writes() == [("chat-predictor", 5)]
    knative = isvc("Knative", low=1)
    rig = Rig(elastic(high=8), knative, SignalPrometheus(num_requests_waiting=22))
    rig.sync()
    assert knative["spec"]["predictor"]["minReplicas"] == 5
    assert rig.client.scale_writes() == []


def test_a_modelmesh_service_is_refused_in_a_condition():
    rig = Rig(elastic(), isvc("ModelMesh"), SignalPrometheus(num_requests_waiting=22))
    rig.sync()
    ready = {c["type"]: c for c in rig.status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "FailedGetScale")
    assert ready["message"] == (
        "InferenceService chat: deployment mode ModelMesh has no replicas to scale "
        "(scaled: RawDeployment, Standard, Serverless, Knative)"
    )
    assert rig.client.scale_writes() == []
