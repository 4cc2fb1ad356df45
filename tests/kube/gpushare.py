"""GPU-share pods and the extender as its own process, for the end-to-end tests.

The extender runs as ``tidewise extender serve``, as it would in a cluster, so that restarting
it loses all its memory: what it knows after a restart it can only have read back from the API
server. It serves HTTPS to the scheduler, which presents its client certificate.
"""

import json
import ssl
import subprocess
import sys
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Namespace, Node, Pod, ServiceAccount
from prometheus_client.parser import text_string_to_metric_families

from tests.kube.kwok import condition, fake_node, fake_pod_spec, wait_for
from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    MODEL_LABEL,
    pod_request,
)
from tidewise.kube.extender.watch import holding_of
from tidewise.testenv.cluster import free_ports

QUARTER = {HAMI_GPU_CORES: "25", HAMI_GPU_MEM: "4096"}  # HAMi's names
HALF = {HAMI_GPU_CORES: "50", GPU_MEM: "8"}  # gpushare's GiB
ONE = {GPU_COUNT: "1"}
GPUS_PER_NODE = 4
GIB = {"A10": 24, "Tesla-T4": 16}


class Extender:
    """``tidewise extender serve`` in a process of its own, started and stopped at will.

    It serves HTTPS with the test cluster's PKI and accepts only the scheduler's client
    certificate (the scheduler's stanza in tests/controlplane.py presents it); its health and
    metrics answer on a port of their own.
    """

    def __init__(self, kubeconfig: Path, port: int, log: Path, pki: Path) -> None:
        self.kubeconfig, self.port, self.log, self.pki = kubeconfig, port, log, pki
        self.health_port = free_ports(("health",))["health"]
        self.process: subprocess.Popen | None = None

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.health_port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def metrics(self) -> dict[tuple[str, frozenset], float]:
        """Every sample on /metrics: ``(name, frozenset(labels.items()))`` -> value."""
        url = f"http://127.0.0.1:{self.health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def tls(self, identity: str | None = "kube-scheduler") -> ssl.SSLContext:
        """A client context trusting the cluster's CA, presenting ``identity``'s certificate
        (from the cluster's PKI: ``kube-scheduler``, ``admin``...), or none."""
        context = ssl.create_default_context(cafile=self.pki / "ca.crt")
        if identity:
            context.load_cert_chain(self.pki / f"{identity}.crt", self.pki / f"{identity}.key")
        return context

    def post(self, verb: str, body: dict, identity: str | None = "kube-scheduler") -> dict:
        """POST one verb as kube-scheduler does (by default with its certificate); the JSON
        answer."""
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}/{verb}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=self.tls(identity)) as answer:
            return json.loads(answer.read())

    def start(self, kubeconfig: Path | None = None, options: tuple[str, ...] = ()) -> None:
        """Start it (reaching the API server through ``kubeconfig`` if given) and wait until
        it has listed the cluster."""
        command = [sys.executable, "-m", "tidewise.cli", "extender", "serve"]
        command += ["--kubeconfig", str(kubeconfig or self.kubeconfig)]
        command += ["--port", str(self.port), "--health-port", str(self.health_port)]
        command += ["--tls-cert-file", str(self.pki / "extender.crt")]
        command += ["--tls-private-key-file", str(self.pki / "extender.key")]
        command += ["--client-ca-file", str(self.pki / "ca.crt")]
        command += ["--client-name", "system:kube-scheduler", *options]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        wait_for("the extender to list the cluster", self.healthy, deadline=60)

    def kill(self) -> None:
        """SIGKILL: no chance to tidy up, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def gpu_nodes(kube: Client) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A fresh namespace and GPU nodes (two A10, one T4) that only this test's pods select."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"gpushare-{suffix}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    nodes = {f"a10-{i}-{suffix}": "A10" for i in range(2)} | {f"t4-{suffix}": "Tesla-T4"}
    for name, model in nodes.items():
        resources = {GPU_COUNT: str(GPUS_PER_NODE), GPU_MEM: str(GPUS_PER_NODE * GIB[model])}
        kube.create(fake_node(name, resources, {MODEL_LABEL: model, "e2e": suffix}))
    for name in nodes:
        wait_for(f"{name} Ready", lambda name=name: condition(kube.get(Node, name), "Ready"))
    # pods are refused until the controller manager has made the namespace's service account
    wait_for(
        "the default service account",
        lambda: bool(list(kube.list(ServiceAccount, namespace=namespace))),
    )
    yield namespace, suffix, nodes
    for name in nodes:
        kube.delete(Node, name)
    kube.delete(Namespace, namespace)


def gpu_pod(name: str, gpu: dict[str, str], selector: dict[str, str]) -> Pod:
    spec = fake_pod_spec({"cpu": "500m", "memory": "1Gi", **gpu}, selector)
    return Pod(metadata=ObjectMeta(name=name), spec=spec)


def failed_scheduling(kube: Client, namespace: str) -> list[str]:
    """Every FailedScheduling event in the namespace, as ``pod: message``."""
    return [
        f"{e.involvedObject.name}: {e.message}"
        for e in kube.list(Event, namespace=namespace)
        if e.reason == "FailedScheduling"
    ]


def bound(kube: Client, namespace: str) -> list[Pod]:
    return [p for p in kube.list(Pod, namespace=namespace) if p.spec.nodeName]


def assert_no_gpu_over_committed(pods: list[Pod], nodes: dict[str, str]) -> None:
    """From the API alone: every pod's recorded GPUs, summed per GPU, within one GPU, and no
    GPU that a pod holds whole shared with another."""
    milli: dict[tuple[str, int], int] = defaultdict(int)
    memory: dict[tuple[str, int], int] = defaultdict(int)
    holders: dict[tuple[str, int], list[bool]] = defaultdict(list)  # whole or not, per pod
    for pod in pods:
        body = pod.to_dict()
        requests, gpus = pod_request(body), recorded_gpus(body)
        assert gpus is not None and len(gpus) == requests.gpu_devices, f"{pod.metadata.name}"
        for gpu in gpus:
            assert 0 <= gpu < GPUS_PER_NODE
            milli[pod.spec.nodeName, gpu] += requests.gpu_milli_each
            memory[pod.spec.nodeName, gpu] += requests.gpu_memory_mib
            holders[pod.spec.nodeName, gpu].append(bool(requests.gpu_count))
    assert max(milli.values()) <= 1000, dict(milli)
    assert all(len(h) == 1 for h in holders.values() if any(h)), dict(holders)
    for (node, gpu), used in memory.items():
        assert used <= GIB[nodes[node]] * 1024, (node, gpu, used)


def books_equal_the_api(kube: Client, extender: Extender) -> bool:
    """Whether the extender's books (its metrics) hold what the API server says: every node it
    can read, every pod bound to a node and not finished, and their GPU share."""
    pods = [p.to_dict() for p in kube.list(Pod, namespace="*")]
    holdings = [h for p in pods if (h := holding_of(p)) is not None]
    expected = {
        "tidewise_extender_books_nodes": len(list(kube.list(Node)))
        - extender.metric("tidewise_extender_skipped_nodes"),
        "tidewise_extender_books_pods": len(holdings),
        "tidewise_extender_gpus_booked": sum(h.requests.gpu_milli_total for h in holdings) / 1000,
        "tidewise_extender_bookings_in_flight": 0,
    }
    return all(extender.metric(name) == value for name, value in expected.items())
