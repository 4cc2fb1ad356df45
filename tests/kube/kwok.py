"""Fake nodes that kwok keeps Ready, and waiting on the real control plane."""

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from lightkube import Client
from lightkube.codecs import load_all_yaml
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import (
    Container,
    NodeSpec,
    NodeStatus,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.policy_v1 import PodDisruptionBudgetSpec
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget

from tests.kube.serviceaccount import components_for, operator_kubeconfig
from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION
from tidewise.kube.api.lease import LEASE_NAME
from tidewise.testenv import Cluster

DEADLINE = 90.0
TOLERATE_FAKE = Toleration(key=FAKE_NODE_ANNOTATION, operator="Exists")


def wait_for(
    what: str, check: Callable[[], bool], deadline: float = DEADLINE, poll_s: float = 0.5
) -> None:
    """Poll until ``check`` holds; the deadline is generous because the machine is shared."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(poll_s)


def apply_crd_file(kube: Client, path: Path, field_manager: str = "tidewise-tests") -> None:
    """The CRDs of one file, applied as a user would, and waited for until established."""
    for crd in load_all_yaml(path.read_text()):
        kube.apply(crd, field_manager=field_manager, force=True)

        def established(name: str = crd.metadata.name) -> bool:
            got = kube.get(CustomResourceDefinition, name)
            return any(
                c.type == "Established" and c.status == "True"
                for c in (got.status.conditions or [])
            )

        wait_for(f"CRD {crd.metadata.name} established", established)


def condition(obj: Node | Pod, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in obj.status.conditions or [])


def fake_node(name: str, capacity: dict[str, str], labels: dict[str, str]) -> Node:
    """A Node that kwok keeps Ready: annotated as fake and tainted so only tolerant pods land."""
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", **capacity}
    return Node(
        metadata=ObjectMeta(name=name, annotations={FAKE_NODE_ANNOTATION: "fake"}, labels=labels),
        spec=NodeSpec(taints=[Taint(key=FAKE_NODE_ANNOTATION, value="fake", effect="NoSchedule")]),
        status=NodeStatus(capacity=capacity, allocatable=capacity),
    )


def fake_pod_spec(requests: dict[str, str], selector: dict[str, str]) -> PodSpec:
    """One container asking for ``requests`` (limits equal), for fake nodes picked by
    ``selector``."""
    resources = ResourceRequirements(requests=requests, limits=requests)
    return PodSpec(
        containers=[Container(name="main", image="fake", resources=resources)],
        nodeSelector=selector,
        tolerations=[TOLERATE_FAKE],
    )


def available(kube: Client, namespace: str) -> int:
    """The ``web`` Deployment's available replicas, as its controller counts them."""
    return kube.get(Deployment, "web", namespace=namespace).status.availableReplicas or 0


def deployment(replicas: int, selector: dict[str, str]) -> Deployment:
    """``web``: ``replicas`` pods of 600m and 512Mi, labelled ``app: web``, on fake nodes."""
    labels = {"app": "web"}
    spec = fake_pod_spec({"cpu": "600m", "memory": "512Mi"}, selector)
    template = PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec)
    return Deployment(
        metadata=ObjectMeta(name="web"),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


class Poller:
    """Calls :meth:`look` every ``every_s`` seconds in a thread while the ``with`` block
    runs (a recorder of what the cluster went through, not only where it ended)."""

    every_s = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def look(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(self.every_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class LowestAvailable(Poller):
    """The fewest available replicas of ``web`` seen while the block runs (polled every
    0.2 s: a dip shorter than that can go unseen)."""

    def __init__(self, kube: Client, namespace: str) -> None:
        super().__init__()
        self.kube, self.namespace = kube, namespace
        self.seen = available(kube, namespace)

    def look(self) -> None:
        self.seen = min(self.seen, available(self.kube, self.namespace))


def web_budget() -> PodDisruptionBudget:
    """``web``'s PodDisruptionBudget: at most one replica unavailable."""
    selector = LabelSelector(matchLabels={"app": "web"})
    spec = PodDisruptionBudgetSpec(maxUnavailable=1, selector=selector)
    return PodDisruptionBudget(metadata=ObjectMeta(name="web"), spec=spec)


@contextmanager
def tidewise_process(log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``tidewise ARGS...`` as a subprocess logging to ``log``, killed when the test ends."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidewise.cli", *args], stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@contextmanager
def operator_process(
    cluster: Cluster,
    kube: Client,
    lease_namespace: str,
    identity: str,
    port: int,
    *extra: str,
) -> Iterator[subprocess.Popen[bytes]]:
    """``tidewise operator`` under the shipped ServiceAccount and RBAC (tests/kube/
    serviceaccount.py), electing in ``lease_namespace`` (6 s Lease), provisioning m6i.large
    kwok nodes (three 600m pods each) every second with the kwok fallback, health on
    ``port``; ``extra`` options after these (``--node-engine`` among them picks another
    engine, and the RBAC is that engine's)."""
    engine = extra[extra.index("--node-engine") + 1] if "--node-engine" in extra else "kwok"
    config = operator_kubeconfig(cluster, kube, lease_namespace, components_for(extra, engine))
    options = [str(config), "--health-host", "127.0.0.1", "--health-port", str(port)]
    options += ["--lease-namespace", lease_namespace, "--identity", identity]
    options += ["--lease-duration", "6", "--instance-types", "m6i.large"]
    options += ["--boot-delay", "2", "--period", "1"]
    options += [] if "--node-engine" in extra else ["--node-engine", "kwok"]
    options += extra
    log = cluster.folder / f"logs/operator-{identity}.log"
    with tidewise_process(log, "operator", "--kubeconfig", *options) as process:
        yield process


def lease_holder(kube: Client, namespace: str) -> str | None:
    """Who holds the operator's leader Lease in ``namespace`` (``None``: nobody, or no Lease)."""
    leases = [lease for lease in kube.list(Lease, namespace=namespace)]
    mine = [lease for lease in leases if lease.metadata.name == LEASE_NAME]
    return mine[0].spec.holderIdentity if mine else None


@contextmanager
def provisioner_process(
    cluster_folder: Path, kubeconfig: Path, log_name: str, unneeded_s: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``tidewise provisioner run`` buying m6i.large kwok nodes (three 600m pods each), with
    timings shortened for a test: 1 s rounds, 2 s boots, no scale-down within 5 s of a
    scale-up, a node under-used for ``unneeded_s`` goes."""
    options = ["--kubeconfig", str(kubeconfig), "--instance-types", "m6i.large"]
    options += ["--boot-delay", "2", "--period", "1", "--unneeded", str(unneeded_s)]
    options += ["--delay-after-add", "5"]
    log = cluster_folder / f"logs/{log_name}.log"
    with tidewise_process(log, "provisioner", "run", *options) as process:
        yield process
