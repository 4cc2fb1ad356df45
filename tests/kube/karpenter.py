"""Karpenter on the session's control plane: its CRDs, a node class, its processes, and
clean-up of what it bought."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightkube import ApiError, Client, codecs
from lightkube.codecs import load_all_yaml
from lightkube.generic_resource import create_global_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.kwok import wait_for
from tidewise.capacity.karpenter.nodepools import NodeClassRef
from tidewise.capacity.karpenter.overlays import MANAGED_BY
from tidewise.testenv import Cluster
from tidewise.testenv.karpenter import KarpenterBuild, karpenter_process

NodePool = create_global_resource("karpenter.sh", "v1", "NodePool", "nodepools")
NodeClaim = create_global_resource("karpenter.sh", "v1", "NodeClaim", "nodeclaims")
NodeOverlay = create_global_resource("karpenter.sh", "v1alpha1", "NodeOverlay", "nodeoverlays")
KWOKNodeClass = create_global_resource(
    "karpenter.kwok.sh", "v1alpha1", "KWOKNodeClass", "kwoknodeclasses"
)
KWOK_CLASS = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
NODEPOOL_LABEL = "karpenter.sh/nodepool"
FIELD_MANAGER = "tidewise-tests"


def install(kube: Client, build: KarpenterBuild) -> None:
    """Karpenter's CRDs of the pinned version, established, and the kwok node class."""
    for path in build.crds:
        for crd in load_all_yaml(path.read_text()):
            kube.apply(crd, field_manager=FIELD_MANAGER, force=True)

            def established(name: str = crd.metadata.name) -> bool:
                got = kube.get(CustomResourceDefinition, name)
                return any(
                    c.type == "Established" and c.status == "True"
                    for c in (got.status.conditions or [])
                )

            wait_for(f"CRD {crd.metadata.name} established", established)
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
