"""Co-location on a real cluster: ``tidewise operator --colocation`` as the shipped
ServiceAccount (its component's RBAC and PriorityClass applied), its batch webhook called by
the API server through the shipped MutatingWebhookConfiguration (by URL on loopback, the
testenv CA), a kwok node with online pods, and a real Prometheus scraping, every
``SCRAPE_S``, an exporter that serves the pods' usage as the kubelet's cAdvisor names it (a
CPU counter that grows at the rate the test sets, a memory gauge), read by the controller's
default queries.

The batch resources appear on the node and follow the online usage (down when it rises,
up again once the peak leaves its window, which an operator restarted meanwhile keeps); two
batch pods are mutated onto them, at the batch priority, and run; when online usage rises,
the checkpointable one is evicted within two scrape intervals and the newer one stays, the
online pods are never touched; the Events and the webhook's replies (a mapping, an
idempotent second pass, a refusal) are asserted."""

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Node, Pod
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from tests.kube.controllers.support import http_get
from tests.kube.kwok import (
    condition,
    fake_node,
    fake_pod_spec,
    lease_holder,
    operator_process,
    wait_for,
)
from tests.kube.on_demand_base import apply_webhook, delete_webhook, webhook_configuration
from tests.kube.test_on_demand_base_e2e import ask_webhook
from tidewise.kube.colocation.batch import CHECKPOINTABLE, QOS
from tidewise.kube.colocation.peak import ANNOTATION
from tidewise.model.quantity import quantity
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.prometheus import PrometheusBinaries, prometheus_process

pytestmark = pytest.mark.e2e

SCRAPE_S = 2.0
PERIOD_S = 0.5  # the controller's: a pass reads each scrape soon after it lands
WINDOW_S = 20.0  # the peak's window: short for the test, long enough for a restart in it
NODE = "colo-e2e-1"
SELECTOR = {"tidewise.io/e2e-colo": NODE}
CPU, MEMORY = "tidewise.io/batch-cpu", "tidewise.io/batch-memory"
IDENTITY = "colocation"
GI = 2**30
ASKED_CPU, ASKED_MIB, USED_MIB = 3000, 8192, 2048  # the online pods on the node


class UsageExporter:
    """Each pod's usage as cAdvisor exports it: ``container_cpu_usage_seconds_total``, a
    counter growing at the CPU rate the test sets (integrated at each scrape), and
    ``container_memory_working_set_bytes``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pods: dict[tuple[str, str], list[float]] = {}  # rate, bytes, total, last

    def set(self, namespace: str, pod: str, cores: float, memory: float) -> None:
        with self.lock:
            now = time.monotonic()
            rate, _, total, last = self.pods.get((namespace, pod), [0.0, 0.0, 0.0, now])
            self.pods[namespace, pod] = [cores, memory, total + rate * (now - last), now]

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = ["namespace", "pod", "container"]
        cpu = CounterMetricFamily("container_cpu_usage_seconds", "CPU seconds used.", labels=labels)
        memory = GaugeMetricFamily(
            "container_memory_working_set_bytes", "Working set.", labels=labels
        )
        with self.lock:
            now = time.monotonic()
            for (namespace, pod), state in self.pods.items():
                rate, bytes_, total, last = state
                state[2], state[3] = total + rate * (now - last), now
                cpu.add_metric([namespace, pod, "main"], state[2])
                memory.add_metric([namespace, pod, "main"], bytes_)
        yield cpu
        yield memory


@pytest.fixture
def usage(tmp_path: Path, prometheus_binaries: PrometheusBinaries):
    """The exporter, and Prometheus scraping it every ``SCRAPE_S``."""
    exporter = UsageExporter()
    registry = CollectorRegistry()
    registry.register(exporter)
    port = free_ports(("exporter",))["exporter"]
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    try:
        folder = tmp_path / "prometheus"
        targets = [f"127.0.0.1:{port}"]
        with prometheus_process(prometheus_binaries, folder, targets, SCRAPE_S) as running:
            yield exporter, running
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def node(kube: Client) -> Iterator[str]:
    kube.create(fake_node(NODE, {"cpu": "4", "memory": "16Gi"}, SELECTOR))
    wait_for("the node Ready", lambda: condition(kube.get(Node, NODE), "Ready"), 60)
    yield NODE
    kube.delete(Node, NODE)


@pytest.fixture
def colocation(cluster: Cluster, kube: Client, namespace: str, node: str, usage):
    """The operator with co-location on, leading, its webhook configured for ``namespace``."""
    exporter, prometheus = usage
    ports = free_ports(("health", "webhook"))
    pki = cluster.folder / "pki"
    config = {
        "nodes": {"engine": "none"},
        "controllers": {"cronhpa": False, "elasticscaler": False, "resourcerecommendation": False},
        "colocation": {
            "prometheus_url": prometheus.url,
            "webhook_host": "127.0.0.1",
            "webhook_port": ports["webhook"],
            "cert_file": str(pki / "webhook.crt"),
            "key_file": str(pki / "webhook.key"),
            "period_s": PERIOD_S,
            "window_s": WINDOW_S,
        },
    }
    path = cluster.folder / f"colocation-{namespace}.yaml"
    path.write_text(yaml.safe_dump(config))
    hook = webhook_configuration(cluster, ports["webhook"], namespace, "colocation")
    options = ("--config", str(path), "--colocation", "--node-engine", "none")

    def launch():
        return operator_process(cluster, kube, namespace, IDENTITY, ports["health"], *options)

    with launch() as first:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == IDENTITY, 60)
        apply_webhook(kube, hook)
        try:
            yield exporter, ports, first, launch
        finally:
            delete_webhook(kube, hook)
    log = (cluster.folder / f"logs/operator-{IDENTITY}.log").read_text()
    assert "forbidden" not in log.lower(), "the shipped RBAC refused a call"


def lent(kube: Client) -> tuple[int, int]:
    """The node's batch allocatable: milli-CPU and MiB (-1: not published)."""
    found = kube.get(Node, NODE).status.allocatable or {}
    if CPU not in found:
        return -1, -1
    return int(quantity(found[CPU])), int(quantity(found[MEMORY]) / 2**20)


def lending(kube: Client, used_cpu: int) -> bool:
    """Whether the node lends what the rule gives for online pods using ``used_cpu``
    milli-CPU (within 2 %: a counter's rate over scrapes a few milliseconds off their
    nominal time is a little off the rate the exporter integrates) and ``USED_MIB``, with
    the default margin of 25 %."""
    cpu, memory = lent(kube)
    expected = ASKED_CPU - used_cpu * 1.25
    return abs(cpu - expected) <= 0.02 * used_cpu * 1.25 and memory == ASKED_MIB - USED_MIB * 1.25


def online(kube: Client, namespace: str) -> Deployment:
    spec = fake_pod_spec({"cpu": "1500m", "memory": "4Gi"}, SELECTOR)
    labels = {"app": "web"}
    return Deployment.from_dict(
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec.to_dict()},
            },
        }
    )


def batch(name: str, checkpointable: bool) -> Pod:
    """A Spark-executor-like pod: 1 CPU and 2Gi asked as any pod asks, labelled batch."""
    spec: PodSpec = fake_pod_spec({"cpu": "1", "memory": "2Gi"}, SELECTOR)
    annotations = {CHECKPOINTABLE: "true"} if checkpointable else None
    meta = ObjectMeta(name=name, labels={QOS: "batch"}, annotations=annotations)
    return Pod(metadata=meta, spec=spec)


def running(kube: Client, namespace: str, name: str) -> bool:
    pod = kube.get(Pod, name, namespace=namespace)
    return pod.status.phase == "Running" and pod.metadata.deletionTimestamp is None


def events(kube: Client, namespace: str, reason: str) -> list[Event]:
    return [e for e in kube.list(Event, namespace=namespace) if e.reason == reason]


def review(pod: dict, uid: str) -> dict:
    request = {"uid": uid, "operation": "CREATE", "namespace": "x", "object": pod}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def test_batch_pods_run_on_reclaimed_capacity_and_give_it_back_when_online_load_rises(
    cluster: Cluster, kube: Client, namespace: str, colocation
):
    exporter, ports, operator, launch = colocation
    port = ports["webhook"]
    kube.create(online(kube, namespace), namespace=namespace)
    wait_for(
        "2 online pods running",
        lambda: sum(running(kube, namespace, p.metadata.name) for p in web(kube, namespace)) == 2,
    )
    webs = {p.metadata.name: p.metadata.uid for p in web(kube, namespace)}
    for name in webs:  # 200m and 1Gi each of the 1500m and 4Gi asked
        exporter.set(namespace, name, 0.2, 1 * GI)

    # 3000m, 8Gi asked; 400m, 2Gi used: 3000 - 400 * 1.25 = 2500m, 8192 - 2560 = 5632Mi lent
    wait_for("the batch resources", lambda: lending(kube, 400), deadline=60)
    before = lent(kube)
    uid = kube.get(Node, NODE).metadata.uid  # node Events outlive the node: this one's

    def told() -> list[str]:
        changed = events(kube, "default", "BatchResourcesChanged")
        mine = [e for e in changed if e.involvedObject.uid == uid]
        return [e.message for e in sorted(mine, key=lambda e: e.firstTimestamp)]

    # memory is measured at the first scrape, a CPU rate at the second: until then the CPU
    # counts as all requested, and nothing of it is lent
    lent_cpu = r"batch resources now 2\d{3}m CPU, 5632Mi memory \(was 0m CPU, (0|5632)Mi memory\)"
    wait_for("the Event", lambda: any(re.fullmatch(lent_cpu, m) for m in told()), deadline=10)
    assert told()[0] == "batch resources now 0m CPU, 0Mi memory (was none)", told()

    # two batch pods through the API server: mutated onto the batch resources, scheduled
    kube.create(batch("spark-exec-1", checkpointable=True), namespace=namespace)
    time.sleep(1.1)  # start times a second apart: the newer is told apart
    kube.create(batch("spark-exec-2", checkpointable=False), namespace=namespace)
    for name in ("spark-exec-1", "spark-exec-2"):
        wait_for(f"{name} running", lambda n=name: running(kube, namespace, n), deadline=60)
        pod = kube.get(Pod, name, namespace=namespace)
        assert pod.spec.nodeName == NODE
        (container,) = pod.spec.containers
        for section in (container.resources.requests, container.resources.limits):
            assert {k: quantity(v) for k, v in section.items()} == {CPU: 1000, MEMORY: 2 * GI}
        assert pod.spec.priorityClassName == "tidewise-batch"
        assert pod.spec.priority == -100 and pod.spec.preemptionPolicy == "Never"

    # the webhook's replies: the mapping, nothing more for a mapped pod, a GPU refused
    template = {"metadata": {"name": "p", "labels": {QOS: "batch"}}, "spec": {}}
    container = {"name": "main", "image": "fake", "resources": {"requests": {"cpu": "250m"}}}
    fresh = template | {"spec": {"containers": [container]}}
    answer = ask_webhook(cluster, port, review(fresh, "a1"))["response"]
    assert answer["allowed"] is True and answer["uid"] == "a1"
    patch = {op["path"]: op["value"] for op in json.loads(base64.b64decode(answer["patch"]))}
    assert patch == {
        "/spec/containers/0/resources": {"requests": {CPU: "250"}, "limits": {CPU: "250"}},
        "/spec/priorityClassName": "tidewise-batch",
        "/spec/priority": -100,
        "/spec/preemptionPolicy": "Never",
    }
    mapped = kube.get(Pod, "spark-exec-2", namespace=namespace).to_dict()
    again = ask_webhook(cluster, port, review(mapped, "a2"))["response"]
    assert again == {"uid": "a2", "allowed": True}
    gpu = {"name": "main", "image": "fake", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    refused = ask_webhook(cluster, port, review(template | {"spec": {"containers": [gpu]}}, "a3"))
    assert refused["response"]["allowed"] is False
    assert refused["response"]["status"]["message"] == (
        "tidewise co-location: spec.containers[0] (main).resources: nvidia.com/gpu: batch pods "
        "get no GPUs; remove the qos label"
    )

    # through the API server, the refusal is the create's error (failurePolicy Fail)
    asks_gpu = batch("gpu-job", checkpointable=False)
    asks_gpu.spec.containers[0].resources.limits["nvidia.com/gpu"] = "1"
    with pytest.raises(ApiError) as refused_create:
        kube.create(asks_gpu, namespace=namespace)
    assert "tidewise co-location: spec.containers[0] (main).resources: nvidia.com/gpu: batch " in (
        refused_create.value.status.message
    )

    # online load rises to 800m each: room 3000 - 1600 * 1.1 = 1240m for 2000m of batch
    raised = time.monotonic()
    for name in webs:
        exporter.set(namespace, name, 0.8, 1 * GI)

    def evicted() -> bool:
        pods = kube.list(Pod, namespace=namespace, fields={"metadata.name": "spark-exec-1"})
        return all(p.metadata.deletionTimestamp is not None for p in pods)

    wait_for("the checkpointable batch pod evicted", evicted, deadline=30, poll_s=0.05)
    took = time.monotonic() - raised
    assert took <= 2 * SCRAPE_S, f"evicted after {took:.2f} s"
    # the peak: 3000 - 1600 * 1.25 = 1000m lent
    wait_for("the batch resources cut", lambda: lending(kube, 1600), deadline=30)
    after = lent(kube)
    time.sleep(3 * PERIOD_S + SCRAPE_S)  # a few more passes: nothing else goes
    assert running(kube, namespace, "spark-exec-2"), "the newer, not checkpointable, stays"
    now = {p.metadata.name: p.metadata.uid for p in web(kube, namespace)}
    assert now == webs and all(running(kube, namespace, n) for n in webs), "online untouched"

    (on_pod,) = events(kube, namespace, "EvictedForOnlineLoad")
    assert on_pod.involvedObject.name == "spark-exec-1" and on_pod.type == "Warning"
    # the usage that caused it: the first scrape after the rise, whose rate may still mix
    # the old rate with the new
    caused = rf"online usage on node {NODE} rose to (\d+)m CPU, 2048Mi memory of 3000m CPU, "
    rose = re.match(caused + "8192Mi memory requested", on_pod.message)
    assert rose and 3000 - int(rose[1]) * 1.1 < 2000, on_pod.message
    assert on_pod.message.endswith(f"batch pod {namespace}/spark-exec-1 evicted")
    on_node = [
        e for e in events(kube, "default", "EvictedForOnlineLoad") if e.involvedObject.uid == uid
    ]
    assert [e.involvedObject.name for e in on_node] == [NODE]
    assert {e.source.component for e in [on_pod, *on_node]} == {"tidewise-colocation"}
    peak = json.loads(kube.get(Node, NODE).metadata.annotations[ANNOTATION])
    assert 1600 <= max(cpu for _, cpu, _ in peak) <= 1632

    # usage falls back, and the operator is killed and started again at once: the peak is on
    # the Node, so the new one lends nothing more until the peak has left its window
    fell = time.monotonic()
    for name in webs:
        exporter.set(namespace, name, 0.2, 1 * GI)
    operator.kill()
    operator.wait()
    metrics = f"http://127.0.0.1:{ports['health']}/metrics"
    with launch() as again:
        wait_for("the new operator leading", lambda: "tidewise_leader 1.0" in http_get(metrics)[1])
        led = time.monotonic() - fell
        wait_for("the batch resources back", lambda: lending(kube, 400), deadline=60)
        back = time.monotonic() - fell
        assert again.poll() is None, "the operator died"
    figures = {"scrape_s": SCRAPE_S, "period_s": PERIOD_S, "window_s": WINDOW_S}
    figures |= {"lent_before": before, "lent_after_rise": after, "lent_again": lent(kube)}
    figures |= {"eviction_s": round(took, 2), "restarted_s": round(led, 1)}
    figures |= {"lent_again_s": round(back, 1)}
    print("colocation e2e:", json.dumps(figures))
    assert led < WINDOW_S, "the restart took the whole window: nothing tested"
    # the last high sample is seen up to two scrapes after the fall; its bucket (a sixth of
    # the window) leaves once its last instant is a window old
    assert WINDOW_S <= back <= WINDOW_S + WINDOW_S / 6 + 4 * SCRAPE_S


def web(kube: Client, namespace: str) -> list[Pod]:
    pods = kube.list(Pod, namespace=namespace, labels={"app": "web"})
    return [p for p in pods if p.metadata.deletionTimestamp is None]
