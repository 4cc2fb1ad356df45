"""What the ElasticScaler's serving e2e tests and benchmark share: KServe's InferenceService
CRD, an InferenceService and its predictor Deployment as KServe makes them, an ElasticScaler
on vLLM's queue, and a stand-in for vLLM servers' ``/metrics``: vLLM's metric names,
types and labels (``model_name``), plus the ``namespace`` and ``pod`` labels Prometheus'
Kubernetes service discovery puts on a pod's series.

Served in the classic text format (0.0.4) whatever the scraper asks: prometheus_client's
own server answers Prometheus' OpenMetrics ``Accept`` with the names' colons escaped
(``vllm_num_requests_waiting``), which would not be vLLM's series."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tidewise.kube.api.kinds import ElasticScalerResource
from tidewise.kube.controllers.kserve import InferenceService

KSERVE_CRD = Path(__file__).parent / "crds/serving.kserve.io_inferenceservices.yaml"
WAITING_PER_REPLICA, CEILING = 5, 4
FAST = {  # no stabilisation, so each step shows at once; the limits are the HPA's own
    "scaleUp": {"stabilizationWindowSeconds": 0},
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}],
    },
}

# vLLM's buckets for vllm:time_to_first_token_seconds (vllm/v1/metrics/loggers.py)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5)
TTFT_BUCKETS += (5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
LABELS = ("model_name", "namespace", "pod")


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


class VllmExporter:
    def __init__(self, model: str, namespace: str) -> None:
        self.model, self.namespace = model, namespace
        self.registry = registry = CollectorRegistry()
        self.waiting = Gauge(
            "vllm:num_requests_waiting", "Requests waiting.", LABELS, registry=registry
        )
        self.running = Gauge(
            "vllm:num_requests_running", "Requests running.", LABELS, registry=registry
        )
        self.kv_cache = Gauge(
            "vllm:kv_cache_usage_perc", "KV-cache usage, 1 is 100 %.", LABELS, registry=registry
        )
        self.gpu_cache = Gauge(  # the name before vllm-project/vllm#18354
            "vllm:gpu_cache_usage_perc", "GPU KV-cache usage.", LABELS, registry=registry
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Time to first token.",
            LABELS,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.generated = Counter(
            "vllm:generation_tokens", "Generation tokens.", LABELS, registry=registry
        )

    def labels(self, pod: str) -> dict[str, str]:
        return {"model_name": self.model, "namespace": self.namespace, "pod": pod}

    def serve(self, pod: str, waiting: int, running: int = 0) -> None:
        """What one server reports now (the queue a buffering front holds, at zero); its
        TTFT histogram is there from the start, as vLLM's is, so a rate sees the first
        observations."""
        self.waiting.labels(**self.labels(pod)).set(waiting)
        self.running.labels(**self.labels(pod)).set(running)
        self.ttft.labels(**self.labels(pod))


@contextmanager
def serving(exporter: VllmExporter) -> Iterator[str]:
    """The exporter on a free local port; yields its ``host:port``."""
    registry = exporter.registry

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
