"""The ElasticScaler on vLLM's metrics, end to end: KServe's InferenceService CRD installed, a
predictor Deployment as KServe makes it in raw-deployment mode, vLLM-shaped series behind a
real Prometheus (scraping every second), the operator as the shipped ServiceAccount. The
scaler follows a queue build-up within its ceiling, takes the predictor to zero and back,
and in serverless mode writes the predictor's floor and ceiling, not its replicas."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event

from tests.kube.controllers.support import (
    PROMETHEUS,
    PrometheusServer,
    ReplicaRecorder,
    running_prometheus,
)
from tests.kube.controllers.vllm_exporter import VllmExporter, serving
from tests.kube.kwok import apply_crd_file, wait_for
from tidewise.kube.controllers.kserve import InferenceService
from tidewise.kube.controllers.resources import ElasticScalerResource
from tidewise.scaling.serving.vllm import scope

pytestmark = pytest.mark.e2e

KSERVE_CRD = Path(__file__).parent / "crds/serving.kserve.io_inferenceservices.yaml"
WAITING_PER_REPLICA, CEILING = 5, 4
FAST = {  # no stabilisation, so each step shows at once; the limits are the HPA's own
    "scaleUp": {"stabilizationWindowSeconds": 0},
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}],
    },
}


@pytest.fixture
def vllm(provisioned: str) -> VllmExporter:
    return VllmExporter("chat", provisioned)


@pytest.fixture
def prometheus(tmp_path: Path, vllm: VllmExporter) -> Iterator[PrometheusServer]:
    """The real Prometheus scraping the vLLM stand-in (and the gauge exporter) every second."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: install Debian's prometheus package (make test)")
    with serving(vllm) as address, running_prometheus(tmp_path, (address,)) as running:
        yield running


def inference_service(kube: Client, namespace: str, name: str, mode: str | None) -> dict:
    annotations = {"serving.kserve.io/deploymentMode": mode} if mode else {}
    if mode:  # KServe then makes no HPA of its own
        annotations["serving.kserve.io/autoscalerClass"] = "external"
    body = {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "model": {"modelFormat": {"name": "huggingface"}, "runtime": "vllm"},
            }
        },
    }
    kube.create(InferenceService(**body), namespace=namespace)
    return kube.get(InferenceService, name, namespace=namespace).to_dict()


def predictor_deployment(isvc: dict, replicas: int) -> Deployment:
    """The Deployment KServe's raw mode makes: ``<name>-predictor``, owned by the
    InferenceService, pods labelled with it and ``component: predictor``; parked on a node
    label nobody has, so only ``spec.replicas`` is under test."""
    name = isvc["metadata"]["name"]
    labels = {
        "app": f"isvc.{name}-predictor",
        "serving.kserve.io/inferenceservice": name,
        "component": "predictor",
    }
    owner = OwnerReference(
        apiVersion="serving.kserve.io/v1beta1",
        kind="InferenceService",
        name=name,
        uid=isvc["metadata"]["uid"],
        controller=True,
    )
    spec = PodSpec(
        containers=[Container(name="kserve-container", image="vllm/vllm-openai")],
        nodeSelector={"tidewise.io/e2e-parked": "true"},
    )
    return Deployment(
        metadata=ObjectMeta(name=f"{name}-predictor", labels=labels, ownerReferences=[owner]),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels={"app": labels["app"]}),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec),
        ),
    )


def elastic_scaler(name: str, low: int, ttft: bool = True) -> ElasticScalerResource:
    """On the queue, and (``ttft``) a p95 TTFT of 2 s: a Value target, which multiplies the
    Ready pods, so it needs the target's pods to exist (no Knative makes them here)."""
    signals: dict = {"waitingRequests": WAITING_PER_REPLICA, "window": "15s"}
    if ttft:
        signals["ttft"] = {"percentile": 95, "seconds": 2}
    spec = {
        "scaleTargetRef": {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "name": name,
        },
        "minReplicas": low,
        "maxReplicas": CEILING,
        "vllm": signals,
        "behavior": FAST,
    }
    return ElasticScalerResource(metadata={"name": name}, spec=spec)


def status(kube: Client, namespace: str, name: str) -> dict:
    return kube.get(ElasticScalerResource, name, namespace=namespace).status or {}


def told(kube: Client, namespace: str, name: str) -> list[str]:
    events = kube.list(Event, namespace=namespace, fields={"involvedObject.name": name})
    return [e.message for e in events if e.reason == "SuccessfulRescale"]


def test_follows_a_vllm_queue_to_its_ceiling_and_to_zero_and_back(
    kube, operator_factory, provisioned, prometheus, vllm
):
    namespace = provisioned
    apply_crd_file(kube, KSERVE_CRD)
    vllm.serve("chat-predictor-0", waiting=0)
    isvc = inference_service(kube, namespace, "chat", "RawDeployment")
    kube.create(predictor_deployment(isvc, 1), namespace=namespace)
    operator_factory("--elastic-period", "1", "--prometheus-url", prometheus.url)

    with ReplicaRecorder(kube, "chat-predictor", namespace) as seen:
        kube.create(elastic_scaler("chat", low=0), namespace=namespace)
        wait_for("the idle predictor at zero", lambda: seen.changes[-1][1] == 0, deadline=60)
        first = status(kube, namespace, "chat")
        assert first["deploymentMode"] == "RawDeployment"

        # a queue builds up in front of the (absent) servers: 12 waiting wants 3 replicas
        built = time.time()
        vllm.serve("chat-predictor-0", waiting=12)
        wait_for("back from zero", lambda: seen.changes[-1][1] == 3, deadline=60)
        from_zero_s = seen.changes[-1][0] - built
        for _ in range(20):  # TTFTs of about 0.3 s, in vLLM's (0.25, 0.5] bucket
            vllm.ttft.labels(**vllm.labels("chat-predictor-0")).observe(0.3)

        vllm.serve("chat-predictor-0", waiting=200)  # wants 40: the ceiling holds at 4
        wait_for("the ceiling", lambda: seen.changes[-1][1] == CEILING, deadline=60)
        wait_for(
            "the TTFT read",
            lambda: any(
                s["name"] == "vllm-ttft" and s.get("value", "0") != "0"
                for s in status(kube, namespace, "chat").get("signals", [])
            ),
            deadline=60,
        )
        busy = status(kube, namespace, "chat")

        drained = time.time()
        vllm.serve("chat-predictor-0", waiting=0)
        wait_for("to zero again", lambda: seen.changes[-1][1] == 0, deadline=60)
        to_zero_s = seen.changes[-1][0] - drained

    replicas = [r for _, r in seen.changes]
    assert replicas == [1, 0, 3, CEILING, 0], seen.changes
    assert max(replicas) <= CEILING
    signals = {s["name"]: s for s in busy["signals"]}
    assert signals["vllm-waiting"] == {"name": "vllm-waiting", "replicas": 40, "value": "200"}
    assert 0.25 < float(signals["vllm-ttft"]["value"]) <= 0.5  # histogram_quantile, real PromQL
    assert busy["desiredReplicas"] == CEILING and busy["rule"] in ("reactive", "behavior")
    conditions = {c["type"]: c for c in busy["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["ScalingActive"]["status"] == "True"
    messages = told(kube, namespace, "chat")
    for size, was in ((0, 1), (3, 0), (CEILING, 3), (0, CEILING)):
        assert f"New size: {size}; reason: reactive (was {was})" in messages, messages
    # a scrape (1 s), Prometheus' staleness of the old sample and a sync (1 s) at most
    assert from_zero_s < 10, f"{from_zero_s:.1f} s from the queue to the scale-up"
    print(f"\nserving e2e: queue to scale-up {from_zero_s:.1f} s, drain to zero {to_zero_s:.1f} s")


def test_serverless_sets_the_predictors_floor_and_ceiling(
    kube, operator_factory, provisioned, prometheus, vllm
):
    namespace = provisioned
    apply_crd_file(kube, KSERVE_CRD)
    vllm.serve("assist-predictor-00001-deployment-0", waiting=0)
    vllm.kv_cache.labels(**vllm.labels("assist-predictor-00001-deployment-0")).set(0.6)
    vllm.gpu_cache.labels(**vllm.labels("assist-predictor-00001-deployment-1")).set(0.2)
    inference_service(kube, namespace, "assist", None)  # KServe's default: Serverless
    operator_factory("--elastic-period", "1", "--prometheus-url", prometheus.url)
    kube.create(elastic_scaler("assist", low=1, ttft=False), namespace=namespace)

    def predictor() -> dict:
        got = kube.get(InferenceService, "assist", namespace=namespace).to_dict()
        return got["spec"]["predictor"]

    wait_for("the ceiling written", lambda: predictor().get("maxReplicas") == CEILING)
    assert predictor()["minReplicas"] == 1  # the ElasticScaler's own floor
    vllm.serve("assist-predictor-00001-deployment-0", waiting=12)
    wait_for("the floor raised", lambda: predictor()["minReplicas"] == 3, deadline=60)
    vllm.serve("assist-predictor-00001-deployment-0", waiting=0)
    wait_for("the floor lowered", lambda: predictor()["minReplicas"] == 1, deadline=60)
    assert predictor()["maxReplicas"] == CEILING

    final = status(kube, namespace, "assist")
    assert final["deploymentMode"] == "Serverless"
    assert not list(kube.list(Deployment, namespace=namespace))  # nothing scaled but the range
    messages = told(kube, namespace, "assist")
    assert any(m.startswith("New floor: 3 (was 1), ceiling 4;") for m in messages), messages
    # the KV-cache query of 'auto' reads the new name where served and the old one elsewhere
    where = scope(namespace, "assist-predictor")
    both = f"avg(vllm:kv_cache_usage_perc{{{where}}} or vllm:gpu_cache_usage_perc{{{where}}})"
    assert prometheus.value(both) == pytest.approx(0.4)
