"""Karpenter on the session's control plane: its CRDs, a node class, its processes, the
operator that steers it, and clean-up of what it bought."""

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec, ResourceRequirements
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.kwok import apply_crd_file, tidewise_process, wait_for
from tests.kube.serviceaccount import operator_kubeconfig
from tidewise.capacity.karpenter import NodePoolSpec
from tidewise.capacity.karpenter.instance_types import NVIDIA_GPU
from tidewise.capacity.karpenter.nodepools import NodeClassRef, node_pool
from tidewise.capacity.karpenter.overlays import MANAGED_BY
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.catalog import Catalog
from tidewise.kube.controllers.karpenter import NodeOverlay, NodePool
from tidewise.model import Resources
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.karpenter import KarpenterBuild, karpenter_process

NodeClaim = create_global_resource("karpenter.sh", "v1", "NodeClaim", "nodeclaims")
KWOKNodeClass = create_global_resource(
    "karpenter.kwok.sh", "v1alpha1", "KWOKNodeClass", "kwoknodeclasses"
)
KWOK_CLASS = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
NODEPOOL_LABEL = "karpenter.sh/nodepool"
FIELD_MANAGER = "tidewise-tests"


def pending_workload(
    name: str, requests: Resources, selector: dict[str, str], replicas: int = 1
) -> Deployment:
    """``replicas`` asking for ``requests`` (whole GPUs as ``nvidia.com/gpu``) on nodes
    ``selector`` picks. A Deployment, not bare pods: on this loaded machine
    kube-controller-manager's taint eviction can still see a new node's
    ``karpenter.sh/unregistered:NoExecute`` taint after Karpenter removed it and the scheduler
    bound the pod, and delete that pod; its ReplicaSet makes another, as it would for a real
    workload."""
    quantities = {"cpu": f"{requests.cpu_milli}m", "memory": f"{requests.memory_mib}Mi"}
    limits = {}
    if requests.gpu_count:
        quantities[NVIDIA_GPU] = limits[NVIDIA_GPU] = str(requests.gpu_count)
    container = Container(
        name="main",
        image="fake",
        resources=ResourceRequirements(requests=quantities, limits=limits or None),
    )
    labels = {"app": name}
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels=labels),
        spec=PodSpec(containers=[container], nodeSelector=selector),
    )
    return Deployment(
        metadata=ObjectMeta(name=name),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


def install(kube: Client, build: KarpenterBuild) -> None:
    """Karpenter's CRDs of the pinned version, established, and the kwok node class."""
    for path in build.crds:
        apply_crd_file(kube, path, FIELD_MANAGER)
    node_class = {
        "apiVersion": f"{KWOK_CLASS.group}/v1alpha1",
        "kind": KWOK_CLASS.kind,
        "metadata": {"name": KWOK_CLASS.name},
    }
    apply(kube, node_class)


def apply(kube: Client, obj: dict[str, Any], dry_run: bool = False) -> Any:
    return kube.apply(
        codecs.from_dict(obj), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
    )


def condition(obj: Any, kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def claims_of(kube: Client, pool: str) -> list[Any]:
    return list(kube.list(NodeClaim, labels={NODEPOOL_LABEL: pool}))


def clean_up(kube: Client, namespace: str) -> None:
    """Workloads and pods first, then every NodeOverlay and NodePool tidewise rendered;
    Karpenter (still running) drains and deletes their NodeClaims and Nodes."""
    for deployment in kube.list(Deployment, namespace=namespace):
        kube.delete(Deployment, deployment.metadata.name, namespace=namespace)
    for pod in kube.list(Pod, namespace=namespace):
        try:
            kube.delete(Pod, pod.metadata.name, namespace=namespace, grace_period=0)
        except ApiError as error:  # its ReplicaSet's deletion took it first
            if error.status.code != 404:
                raise
    for kind in (NodeOverlay, NodePool):
        for obj in kube.list(kind, labels=MANAGED_BY):
            kube.delete(kind, obj.metadata.name)

    def gone() -> bool:
        return not list(kube.list(NodeClaim)) and not list(
            kube.list(Node, labels={"karpenter.sh/registered": "true"})
        )

    wait_for("Karpenter to give its nodes back", gone, deadline=60)


@contextmanager
def running_karpenter(
    kube: Client,
    cluster: Cluster,
    build: KarpenterBuild,
    instance_types: Path,
    namespace: str,
    command: str,
) -> Iterator[None]:
    """``command`` running until the block ends; what the test bought is given back first."""
    with karpenter_process(cluster, build, instance_types, command):
        try:
            yield
        finally:
            clean_up(kube, namespace)


def overlay_applied(kube: Client, name: str) -> bool:
    """Karpenter validated the overlay and took it into its prices (no conflict)."""
    try:
        return condition(kube.get(NodeOverlay, name), "ValidationSucceeded")
    except ApiError:
        return False


STEERING_COMPONENTS = ["karpenter"]
"""The operator that steers Karpenter needs the base and the Karpenter component only."""


def steering_config(folder: Path, scenario: dict[str, Any], name: str = "operator") -> Path:
    """An operator configuration (and its scenario beside it) that runs the Karpenter
    controller alone, every second, on the kwok node class."""
    (folder / f"{name}-scenario.yaml").write_text(yaml.safe_dump(scenario))
    config = {
        "nodes": {"engine": "karpenter"},
        "karpenter": {
            "scenario": f"{name}-scenario.yaml",
            "node_class": f"{KWOK_CLASS.group}/{KWOK_CLASS.kind}/{KWOK_CLASS.name}",
            "period_s": 1,
        },
        "controllers": {"cronhpa": False, "elasticscaler": False, "resourcerecommendation": False},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def steering_operator(
    cluster: Cluster, kube: Client, namespace: str, config: Path, identity: str = "steering"
) -> Iterator[subprocess.Popen[bytes]]:
    """``tidewise operator --config config`` as the shipped ServiceAccount with the base and
    Karpenter component's RBAC only, electing in ``namespace``; stopped (SIGTERM) at the end,
    so it applies nothing while the test's objects are cleaned up."""
    kubeconfig = operator_kubeconfig(cluster, kube, namespace, STEERING_COMPONENTS)
    port = free_ports(("operator",))["operator"]
    options = ["--kubeconfig", str(kubeconfig), "--config", str(config)]
    options += ["--health-host", "127.0.0.1", "--health-port", str(port)]
    options += ["--lease-namespace", namespace, "--identity", identity, "--lease-duration", "6"]
    log = cluster.folder / f"logs/operator-{identity}.log"
    with tidewise_process(log, "operator", *options) as process:
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def events_about(kube: Client, name: str) -> list[str]:
    """The reasons of the operator's Events about the cluster-scoped object ``name`` (in
    ``default``, where it posts them; Karpenter's own are left out), oldest first."""
    found = [
        e
        for e in kube.list(Event, namespace="default")
        if e.involvedObject.name == name and e.reportingComponent == "tidewise-operator"
    ]
    found.sort(key=lambda e: e.metadata.creationTimestamp)
    return [e.reason for e in found]


def managers(obj: Any) -> set[tuple[str, str]]:
    """(manager, operation) of the object's managedFields."""
    return {(m["manager"], m["operation"]) for m in obj["metadata"].get("managedFields") or []}


def pool(name: str, types: list[str], catalog: Catalog) -> dict:
    """A NodePool as tidewise renders it (no workloads: no limits; consolidation after the
    default 10 minutes, so nothing is taken away while a test runs)."""
    spec = NodePoolSpec(name, tuple(types))
    return node_pool(spec, catalog.offerings, [], KWOK_CLASS, NodeAutoscalerSettings())
