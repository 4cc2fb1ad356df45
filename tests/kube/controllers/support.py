"""What the controllers' end-to-end tests and their benchmark (bench/controllers.py) share:
the CRDs applied from deploy/crds, the operator as a restartable process, a real Prometheus
scraping a gauge the caller sets, and a recorder of a Deployment's replica changes."""

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.kube.kwok import Poller, apply_crd_file, tidewise_process, wait_for
from tests.kube.serviceaccount import components_for, operator_kubeconfig
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.prometheus import find_prometheus, prometheus_process

ROOT = Path(__file__).resolve().parents[3]
CRDS = ROOT / "deploy/crds"
IDENTITY = "controllers-under-test"


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def apply_crds(kube: Client) -> None:
    """The CRDs of deploy/crds, applied as a user would, and waited for until established."""
    kustomization = yaml.safe_load((CRDS / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        apply_crd_file(kube, CRDS / name)


def parked_deployment(name: str, replicas: int) -> Deployment:
    """A Deployment whose pods select a node label nobody has: they stay Pending, so no
    provisioner buys nodes for them and only ``spec.replicas`` is under test."""
    labels = {"app": name}
    spec = PodSpec(
        containers=[Container(name="main", image="fake")],
        nodeSelector={"tidewise.io/e2e-parked": "true"},
    )
    template = PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec)
    return Deployment(
        metadata=ObjectMeta(name=name),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


@dataclass
class OperatorProcess:
    """``tidewise operator`` electing in ``namespace``, under the shipped ServiceAccount and
    RBAC (tests/kube/serviceaccount.py); the caller may kill and start it."""

    cluster: Cluster
    kube: Client
    namespace: str
    extra: list[str]
    port: int = field(default_factory=lambda: free_ports(("operator",))["operator"])
    stack: ExitStack = field(default_factory=ExitStack)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        components = components_for(tuple(self.extra))
        config = operator_kubeconfig(self.cluster, self.kube, self.namespace, components)
        options = ["--kubeconfig", str(config), "--health-host", "127.0.0.1"]
        options += ["--health-port", str(self.port), "--lease-namespace", self.namespace]
        options += ["--identity", IDENTITY, "--lease-duration", "6", "--period", "1"]
        options += ["--instance-types", "m6i.large", "--boot-delay", "2"]
        options += ["--node-engine", "kwok", *self.extra]
        log = self.cluster.folder / "logs/controllers-operator.log"
        self.process = self.stack.enter_context(tidewise_process(log, "operator", *options))
        wait_for(
            "the operator leading",
            lambda: "tidewise_leader 1.0" in self.metrics(),
            deadline=90,
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup; the Lease stays held until it expires or the same identity
        renews it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def metrics(self) -> str:
        return http_get(f"{self.base}/metrics")[1]

    def metric(self, sample: str) -> float:
        for line in self.metrics().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        raise AssertionError(f"no metric {sample}")


@dataclass
class PrometheusServer:
    url: str
    gauge: Gauge  # e2e_queue_depth, served by the exporter Prometheus scrapes
    registry: CollectorRegistry  # what the exporter serves: a test may add collectors

    def value(self, query: str) -> float | None:
        params = urllib.parse.urlencode({"query": query})
        status, body = http_get(f"{self.url}/api/v1/query?{params}")
        if status != 200:
            return None
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else None


@contextmanager
def running_prometheus(folder: Path) -> Iterator[PrometheusServer]:
    """The test environment's Prometheus (config and data in ``folder``) scraping, every
    second, a prometheus_client exporter that serves the gauge ``e2e_queue_depth``."""
    binaries = find_prometheus()
    if binaries is None:
        raise RuntimeError(
            "prometheus/promtool are missing: install Debian's prometheus (make debs)"
        )
    port = free_ports(("exporter",))["exporter"]
    registry = CollectorRegistry()
    gauge = Gauge("e2e_queue_depth", "Jobs waiting, set by the caller.", registry=registry)
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    try:
        with prometheus_process(binaries, folder, [f"127.0.0.1:{port}"]) as prometheus:
            running = PrometheusServer(prometheus.url, gauge, registry)
            gauge.set(0)
            wait_for("Prometheus scraping", lambda: running.value("e2e_queue_depth") == 0, 60)
            yield running
    finally:
        server.shutdown()
        thread.join()


class ReplicaRecorder(Poller):
    """Every change of a Deployment's ``spec.replicas`` with its wall-clock time (polled
    every 50 ms, so a change is stamped up to 50 ms late)."""

    every_s = 0.05

    def __init__(self, kube: Client, name: str, namespace: str) -> None:
        super().__init__()
        self.kube, self.name, self.namespace = kube, name, namespace
        self.changes: list[tuple[float, int]] = []

    def current(self) -> int:
        return self.kube.get(Deployment, self.name, namespace=self.namespace).spec.replicas

    def look(self) -> None:
        try:
            replicas = self.current()
        except Exception:  # a slow API server: try again
            return
        at = time.time()
        if not self.changes or self.changes[-1][1] != replicas:
            self.changes.append((at, replicas))

    def first_time_at(self, replicas: int, after: float = 0.0) -> float | None:
        return next((t for t, r in self.changes if r == replicas and t >= after), None)
