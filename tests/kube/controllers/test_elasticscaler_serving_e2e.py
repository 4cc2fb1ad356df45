"""The ElasticScaler on vLLM's metrics, end to end: KServe's InferenceService CRD installed, a
predictor Deployment as KServe makes it in raw-deployment mode, vLLM-shaped series behind a
real Prometheus (scraping every second), the operator as the shipped ServiceAccount. The
scaler follows a queue build-up within its ceiling, takes the predictor to zero and back,
and in serverless mode writes the predictor's floor and ceiling, not its replicas."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from tests.kube.controllers.serving import (
    CEILING,
    FAST,
    KSERVE_CRD,
    VllmExporter,
    elastic_scaler,
    inference_service,
    predictor_deployment,
    serving,
)
from tests.kube.controllers.support import ReplicaRecorder
from tests.kube.kwok import apply_crd_file, wait_for
from tidewise.kube.api.kinds import ElasticScalerResource
from tidewise.kube.controllers.kserve import InferenceService
from tidewise.scaling.serving.vllm import scope
from tidewise.testenv.prometheus import PrometheusBinaries, RunningPrometheus, prometheus_process

pytestmark = pytest.mark.e2e


@pytest.fixture
def vllm(provisioned: str) -> VllmExporter:
    return VllmExporter("chat", provisioned)


@pytest.fixture
def prometheus(
    tmp_path: Path, prometheus_binaries: PrometheusBinaries, vllm: VllmExporter
) -> Iterator[RunningPrometheus]:
    """The test environment's Prometheus scraping the vLLM stand-in every second."""
    with (
        serving(vllm) as address,
        prometheus_process(prometheus_binaries, tmp_path / "prometheus", [address]) as running,
    ):
        yield running


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
        wait_for("the recorder's first look", lambda: bool(seen.changes))
        kube.create(elastic_scaler("chat", low=0), namespace=namespace)
        wait_for("the idle predictor at zero", lambda: seen.changes[-1][1] == 0, deadline=60)
        first = status(kube, namespace, "chat")
        assert first["deploymentMode"] == "RawDeployment"

        # a queue builds up in front of the (absent) servers: 12 waiting wants 3 replicas
        vllm.serve("chat-predictor-0", waiting=12)
        wait_for("back from zero", lambda: seen.changes[-1][1] == 3, deadline=60)
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

        vllm.serve("chat-predictor-0", waiting=0)
        wait_for("to zero again", lambda: seen.changes[-1][1] == 0, deadline=60)

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
    (mean,) = prometheus.query(both)
    assert float(mean["value"][1]) == pytest.approx(0.4)


SELDON_CRD = KSERVE_CRD.parent / "seldondeployments.yaml"
SeldonDeployment = create_namespaced_resource(
    "machinelearning.seldon.io", "v1", "SeldonDeployment", "seldondeployments"
)


def scale_rule(namespace: str) -> list:
    """What docs/serving.md tells a user to add for a custom-resource target: get and patch
    on its /scale, bound to the operator's ServiceAccount."""
    name = f"tidewise-operator-seldon-{namespace}"
    rule = PolicyRule(
        apiGroups=["machinelearning.seldon.io"],
        resources=["seldondeployments/scale"],
        verbs=["get", "patch"],
    )
    subject = Subject(kind="ServiceAccount", name="tidewise-operator", namespace=namespace)
    ref = RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=name)
    return [
        ClusterRole(metadata=ObjectMeta(name=name), rules=[rule]),
        ClusterRoleBinding(metadata=ObjectMeta(name=name), roleRef=ref, subjects=[subject]),
    ]


def test_a_seldon_like_target_scales_through_its_scale_subresource_once_granted(
    kube, operator_factory, provisioned, prometheus, vllm
):
    namespace = provisioned
    apply_crd_file(kube, SELDON_CRD)
    vllm.serve("seldon-7f9c-0", waiting=14)  # scoped by model_name below, not by pod name
    kube.create(
        SeldonDeployment(metadata={"name": "chat"}, spec={"replicas": 1}), namespace=namespace
    )
    operator_factory("--elastic-period", "1", "--prometheus-url", prometheus.url)
    spec = {
        "scaleTargetRef": {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "name": "chat",
        },
        "minReplicas": 1,
        "maxReplicas": 6,
        "vllm": {"waitingRequests": 5, "selector": {"model_name": "chat"}},
        "behavior": FAST,
    }
    kube.create(ElasticScalerResource(metadata={"name": "seldon"}, spec=spec), namespace=namespace)

    def ready() -> dict:
        found = status(kube, namespace, "seldon").get("conditions") or []
        return next((c for c in found if c["type"] == "Ready"), {})

    # the shipped RBAC grants no custom resource's /scale: said in the condition, not a crash
    wait_for("the refusal", lambda: ready().get("reason") == "FailedGetScale")
    assert "forbidden" in ready()["message"] and "seldondeployments/scale" in ready()["message"]

    granted = scale_rule(namespace)
    for obj in granted:
        kube.create(obj)
    try:

        def replicas() -> int:
            return kube.get(SeldonDeployment, "chat", namespace=namespace).spec["replicas"]

        wait_for("3 replicas", lambda: replicas() == 3, deadline=60)  # ceil(14 / 5)
        assert ready()["status"] == "True"
        assert "New size: 3; reason: reactive (was 1)" in told(kube, namespace, "seldon")
    finally:
        for obj in granted:
            kube.delete(type(obj), obj.metadata.name)
