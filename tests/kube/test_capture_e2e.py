"""``tidewise capture`` then ``tidewise sim`` on the real control plane, run as a user runs
them (subprocesses) with the shipped read-only ServiceAccount (deploy/capture/rbac.yaml):
Deployments with an HPA and a CronHPA, a StatefulSet with none, kwok nodes labelled with
catalog instance types, and a Prometheus holding each service's recorded history. The
captured scenario states what the cluster says (bounds, targets, requests, node types), its
traces carry the recorded series, and the twin replays it directly."""

import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import Client, codecs
from lightkube.models.apps_v1 import DeploymentSpec, StatefulSetSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import Namespace, Node

from tests.kube.kwok import condition, fake_node, fake_pod_spec, wait_for
from tests.kube.serviceaccount import account_kubeconfig
from tidewise.kube.api.kinds import CronHpa
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from tidewise.testenv import Cluster
from tidewise.testenv.prometheus import (
    PrometheusBinaries,
    RunningPrometheus,
    Series,
    openmetrics,
    prometheus_process,
)

pytestmark = pytest.mark.e2e

RBAC = Path(__file__).parents[2] / "deploy/capture/rbac.yaml"
ACCOUNT, ACCOUNT_NAMESPACE = "tidewise-capture", "tidewise-system"
WINDOW_S = 2 * 3600


SCRAPE_S = 15.0


def web_requests(t: float, origin: float) -> float:
    """web's request counter: a daily wave of 90 +- 30 rps from ``origin``, integrated."""
    period, swing = 86400.0, 30 * 86400.0 / (2 * math.pi)
    wave = math.cos(2 * math.pi * origin / period) - math.cos(2 * math.pi * t / period)
    return 90 * (t - origin) + swing * wave


def recorded(namespace: str, now: float) -> str:
    """The services' history as cAdvisor, Istio and an instrumented app export it (counters
    scraped every 15 s) from a quarter hour before the window to now: web in Istio's
    ``istio_requests_total``, api in ``http_requests_total`` (12 rps, no scrape for 12 minutes
    half an hour in), batch in cAdvisor's CPU seconds only (a quarter of a core)."""
    origin = now - WINDOW_S - 900
    stamps = [origin + SCRAPE_S * i for i in range(int((now - origin) // SCRAPE_S) + 1)]
    outage = (now - WINDOW_S + 1800, now - WINDOW_S + 1800 + 720)
    istio = {
        "reporter": "destination",
        "destination_workload_namespace": namespace,
        "destination_workload": "web",
    }
    return openmetrics(
        [
            Series(
                "istio_requests_total",
                istio,
                [(t, web_requests(t, origin)) for t in stamps],
            ),
            Series(
                "http_requests_total",
                {"namespace": namespace, "pod": "api-5f6d7c9b8-x2k4q"},
                [(t, 12 * (t - origin)) for t in stamps if not outage[0] <= t < outage[1]],
            ),
            Series(
                "container_cpu_usage_seconds_total",
                {"namespace": namespace, "pod": "batch-0", "container": "main"},
                [(t, 0.25 * (t - origin)) for t in stamps],
            ),
        ]
    )


@pytest.fixture
def prometheus(
    prometheus_binaries: PrometheusBinaries, shop: str, tmp_path: Path
) -> Iterator[RunningPrometheus]:
    """The real Prometheus holding the recorded history of ``shop``'s services."""
    history = recorded(shop, time.time())
    with prometheus_process(prometheus_binaries, tmp_path / "prometheus", history=history) as up:
        yield up


def deployment(name: str, replicas: int, requests: dict[str, str], labels: dict) -> Deployment:
    template, selector = _template(name, requests)
    return Deployment(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=DeploymentSpec(replicas=replicas, selector=selector, template=template),
    )


def statefulset(name: str, replicas: int, requests: dict[str, str], labels: dict) -> StatefulSet:
    template, selector = _template(name, requests)
    return StatefulSet(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=StatefulSetSpec(
            replicas=replicas, selector=selector, template=template, serviceName=name
        ),
    )


def _template(name: str, requests: dict[str, str]) -> tuple[PodTemplateSpec, LabelSelector]:
    spec = fake_pod_spec(requests, {"e2e-capture": "yes"})
    match = {"app": name}
    return PodTemplateSpec(metadata=ObjectMeta(labels=match), spec=spec), LabelSelector(
        matchLabels=match
    )


@pytest.fixture
def shop(kube: Client, crds: None, namespace: str) -> Iterator[str]:
    """``web`` (3 x 600m/512Mi, an HPA 2..12 at 60 % CPU), ``api`` (2 x 1/2Gi, a CronHPA
    sizing it 1 at night and 6 by day), the StatefulSet ``batch`` (1 x 250m/256Mi, no
    autoscaler), all
    labelled ``capture: yes``; ``other`` is not. Two kwok nodes of catalog types."""
    suffix = uuid.uuid4().hex[:6]
    nodes = {
        f"m6i-{suffix}": ("m6i.xlarge", "on-demand"),
        f"c6i-{suffix}": ("c6i.2xlarge", "spot"),
    }
    for name, (kind, option) in nodes.items():
        labels = {
            INSTANCE_TYPE: kind,
            ZONE: "use1-az1",
            CAPACITY_TYPE: option,
            "e2e-capture": "yes",
        }
        kube.create(fake_node(name, {"cpu": "8", "memory": "32Gi"}, labels))
    chosen = {"capture": "yes"}
    for made in (
        deployment("web", 3, {"cpu": "600m", "memory": "512Mi"}, chosen),
        deployment("api", 2, {"cpu": "1", "memory": "2Gi"}, chosen),
        statefulset("batch", 1, {"cpu": "250m", "memory": "256Mi"}, chosen),
        deployment("other", 1, {"cpu": "100m", "memory": "64Mi"}, {}),
    ):
        kube.create(made, namespace=namespace)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 12,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60},
                    },
                }
            ],
        },
    }
    kube.create(codecs.from_dict(hpa))
    cron = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "jobs": [
            {"name": "day", "schedule": "0 0 8 * * *", "targetSize": 6},
            {"name": "night", "schedule": "0 0 22 * * *", "targetSize": 1},
        ],
    }
    kube.create(CronHpa(metadata=ObjectMeta(name="api", namespace=namespace), spec=cron))
    for name in nodes:
        wait_for(f"{name} Ready", lambda name=name: condition(kube.get(Node, name), "Ready"))
    for kind, name, replicas in (
        (Deployment, "web", 3),
        (Deployment, "api", 2),
        (StatefulSet, "batch", 1),
    ):
        wait_for(
            f"{name}'s {replicas} replicas",
            lambda kind=kind, name=name, replicas=replicas: (
                kube.get(kind, name, namespace=namespace).status.replicas == replicas
            ),
        )
    try:
        yield namespace
    finally:
        for name in nodes:
            kube.delete(Node, name)


@pytest.fixture
def capture_kubeconfig(cluster: Cluster, kube: Client) -> Path:
    """A kubeconfig of the shipped read-only ServiceAccount, its RBAC applied as shipped."""
    if not list(kube.list(Namespace, fields={"metadata.name": ACCOUNT_NAMESPACE})):
        kube.create(Namespace(metadata=ObjectMeta(name=ACCOUNT_NAMESPACE)))
    for doc in yaml.safe_load_all(RBAC.read_text()):
        kube.apply(codecs.from_dict(doc), field_manager="tidewise-tests", force=True)
    return account_kubeconfig(cluster, kube, ACCOUNT_NAMESPACE, ACCOUNT)


def tidewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidewise.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_the_capture_role_reads_and_writes_nothing(cluster: Cluster, capture_kubeconfig: Path):
    from lightkube import KubeConfig

    client = Client(KubeConfig.from_file(capture_kubeconfig))

    def allowed(verb: str, group: str, resource: str) -> bool:
        attributes = ResourceAttributes(verb=verb, group=group, resource=resource)
        review = SelfSubjectAccessReview(
            spec=SelfSubjectAccessReviewSpec(resourceAttributes=attributes)
        )
        return bool(client.create(review).status.allowed)

    assert allowed("list", "apps", "deployments") and allowed("list", "", "nodes")
    assert allowed("list", "autoscaling.alibabacloud.com", "cronhorizontalpodautoscalers")
    for verb in ("create", "update", "patch", "delete"):
        assert not allowed(verb, "apps", "deployments")
    assert not allowed("list", "", "secrets") and not allowed("list", "", "pods")


def test_capture_then_sim_replays_the_clusters_services(
    shop: str, capture_kubeconfig: Path, prometheus: RunningPrometheus, tmp_path: Path
):
    scenario = tmp_path / "captured.yaml"
    out = tidewise(
        "capture", str(scenario), "--kubeconfig", str(capture_kubeconfig),
        "--prometheus", prometheus.url, "-n", shop, "-l", "capture=yes", "--window", "2h",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # a progress line per step, the signal each service was read from
    assert f"read 3 Deployments and StatefulSets in namespace {shop}" in out.stderr
    assert f"{shop}/web: 121 of 121 samples of requests (istio)" in out.stderr, out.stderr
    assert f"{shop}/batch: 121 of 121 samples of cpu (cpu)" in out.stderr
    assert f"{shop}/api: " in out.stderr and "of 121 samples of requests (http)" in out.stderr

    captured = yaml.safe_load(scenario.read_text())
    services = {w["name"]: w for w in captured["workloads"]}
    assert set(services) == {"web", "api", "batch"}  # `other` is not selected
    assert captured["horizon"] == "120m"
    assert captured["node_pools"] == [
        {"name": "captured", "instance_types": ["c6i.2xlarge", "m6i.xlarge"]}
    ]
    web, api, batch = services["web"], services["api"], services["batch"]
    assert web["replicas"] == {"min": 2, "max": 12} and web["target_utilization"] == 0.6
    assert web["requests"] == {"cpu": "600m", "memory": "512Mi"}
    assert api["replicas"] == {"min": 1, "max": 6}
    assert batch["replicas"] == {"min": 1, "max": 1}
    # CPU as the signal: demand in cores, one replica serves its request
    assert batch["rps_per_replica"] == 0.25
    # one web replica serves the last quarter hour's rate / (3 replicas x 60 %)
    start = captured["workloads"][0]["trace"]["start"]
    rows = (scenario.parent / web["trace"]["path"]).read_text().splitlines()
    assert rows[0] == "time,requests_per_s" and rows[1].startswith(start.replace("+00:00", ""))
    recent = [float(r.split(",")[1]) for r in rows[-15:]]
    assert web["rps_per_replica"] == pytest.approx(sum(recent) / 15 / (3 * 0.6), rel=1e-5)
    api_rows = (scenario.parent / api["trace"]["path"]).read_text().splitlines()[1:]
    assert any(r.endswith(",") for r in api_rows)  # the scrape gaps stay gaps
    assert "# nodes in use:" in scenario.read_text()

    report_path = tmp_path / "report.json"
    sim = tidewise("sim", str(scenario), "--json", str(report_path), "-q")
    assert sim.returncode == 0, sim.stderr
    report = json.loads(report_path.read_text())
    assert report["horizon_s"] == WINDOW_S
    assert {r["policy"] for r in report["runs"]} == set(captured["policies"])
    for run in report["runs"]:
        assert {w["name"] for w in run["workloads"]} == {"web", "api", "batch"}
        assert run["cost_usd"] > 0


def test_capture_errors_are_one_line(
    shop: str, capture_kubeconfig: Path, prometheus: RunningPrometheus, tmp_path: Path
):
    scenario = tmp_path / "captured.yaml"
    base = ["capture", str(scenario), "--kubeconfig", str(capture_kubeconfig), "-n", shop]
    unreachable = tidewise(*base, "--prometheus", "http://127.0.0.1:9")
    assert unreachable.returncode == 2
    assert "--prometheus: query" in unreachable.stderr and "unreachable" in unreachable.stderr
    empty = tidewise(
        *base, "--prometheus", prometheus.url, "-l", "capture=yes",
        "--query-for", "web=sum(rate(nothing_total[5m]))",
    )  # fmt: skip
    context = tidewise(*base, "--prometheus", prometheus.url, "--context", "elsewhere")
    assert empty.returncode == 2
    assert f"{shop}/web: no series under any query (--query-for web)" in empty.stderr
    assert context.returncode == 2 and "--context:" in context.stderr
    for failed in (unreachable, empty, context):
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) >= 1
    assert not scenario.exists()


def test_a_coarser_step_is_captured_and_resampled_by_sim(
    shop: str, capture_kubeconfig: Path, prometheus: RunningPrometheus, tmp_path: Path
):
    scenario = tmp_path / "coarse.yaml"
    out = tidewise(
        "capture", str(scenario), "--kubeconfig", str(capture_kubeconfig),
        "--prometheus", prometheus.url, "-n", shop, "-l", "capture=yes",
        "--window", "2h", "--step", "5m",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"{shop}/web: 25 of 25 samples of requests (istio)" in out.stderr
    web = {w["name"]: w for w in yaml.safe_load(scenario.read_text())["workloads"]}["web"]
    rows = (tmp_path / web["trace"]["path"]).read_text().splitlines()[1:]
    assert len(rows) == 25
    # the last quarter hour is three 5-minute points here
    recent = [float(r.split(",")[1]) for r in rows[-3:]]
    assert web["rps_per_replica"] == pytest.approx(sum(recent) / 3 / (3 * 0.6), rel=1e-5)
    report_path = tmp_path / "report.json"
    sim = tidewise("sim", str(scenario), "--json", str(report_path), "-q")
    assert sim.returncode == 0, sim.stderr
    assert json.loads(report_path.read_text())["horizon_s"] == WINDOW_S
