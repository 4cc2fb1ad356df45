"""The cluster as the capacity policies see it, read from API objects (plain dicts).

Why only the provider's nodes and the pods it could serve: the policies buy and remove
machines; a node someone else manages is not theirs to drain, and a pod that selects a label
no launched node carries, or does not tolerate their taints, would stay pending whatever was
bought (Karpenter's rule for a NodePool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidewise.capacity.provisioning import first_fit
from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.resources import has_finished, pod_resources
from tidewise.kube.api.status import unix_s
from tidewise.kube.provider.disruption import blocks_scale_down
from tidewise.kube.provider.interface import CAPACITY_TYPE, Instance, NodeProvider
from tidewise.model import ClusterView, Node, NodeState, Offering, Pod, PodPhase, PurchaseOption
from tidewise.placement.eligibility import tolerates
from tidewise.placement.fit import choose_gpus, with_pod

INITIALIZED = "tidewise.io/initialized"
"""On a provider's node: when it was first seen Ready (RFC 3339). Written by the provisioner,
as Karpenter's NodeClaim records Initialized: a NotReady node that carries it has failed."""


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def unschedulable(pod: Mapping[str, Any]) -> bool:
    """The scheduler tried the pod and found no node (``PodScheduled=False/Unschedulable``)."""
    scheduled = _condition(pod, "PodScheduled")
    return (
        not (pod.get("spec") or {}).get("nodeName")
        and scheduled is not None
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    )


def ready(obj: Mapping[str, Any]) -> bool:
    """The object's ``Ready`` condition is ``True`` (a pod or a node)."""
    ready = _condition(obj, "Ready")
    return ready is not None and ready.get("status") == "True"


def capacity_types(
    pod: Mapping[str, Any], provider: NodeProvider
) -> tuple[bool, frozenset[PurchaseOption] | None]:
    """Whether the provider's nodes can serve the pod, and the purchase options it selects."""
    selector = dict((pod.get("spec") or {}).get("nodeSelector") or {})
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    chosen = selector.pop(CAPACITY_TYPE, None)
    servable = all(provider.labels.get(k) == v for k, v in selector.items()) and all(
        tolerates(tolerations, {"key": k, "value": v, "effect": e}) for k, v, e in provider.taints
    )
    if chosen is None:
        return servable, None
    try:
        return servable, frozenset({PurchaseOption(chosen)})
    except ValueError:
        return False, None


def _owner(pod: Mapping[str, Any]) -> str:
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or [{"name": metadata.get("name", "")}]
    return f"{metadata.get('namespace', '')}/{owners[0]['name']}"


def _created_s(obj: Mapping[str, Any]) -> float:
    return unix_s((obj.get("metadata") or {}).get("creationTimestamp")) or 0.0


def view_pods(
    pods: Sequence[Mapping[str, Any]], provider: NodeProvider, nodes: set[str]
) -> list[Pod]:
    """Pending pods the provider could serve, and the live pods bound to its ``nodes``."""
    seen = []
    for pod in pods:
        if has_finished(pod):
            continue
        bound = (pod.get("spec") or {}).get("nodeName")
        servable, options = capacity_types(pod, provider)
        if bound in nodes:
            phase = PodPhase.RUNNING if ready(pod) else PodPhase.STARTING
        elif not bound and servable and unschedulable(pod):
            phase = PodPhase.PENDING
        else:
            continue
        name = (pod.get("metadata") or {}).get("name", "")
        seen.append(
            Pod(
                name,
                _owner(pod),
                pod_resources(pod),
                phase,
                _created_s(pod),
                bound,
                recorded_gpus(pod) or (),
                None,
                options,
                blocks_scale_down(pod) is not None,
            )
        )
    return seen


def _state(node: Mapping[str, Any] | None, now_s: float) -> tuple[NodeState, float | None]:
    """The node's state and, for a failed one, since when (its Ready condition's last
    transition, as cluster-autoscaler reads it). NotReady is a failure only on a node that
    was Ready once (:data:`INITIALIZED`); before that it is still booting."""
    if node is None:
        return NodeState.LAUNCHING, None
    if not ready(node):
        if INITIALIZED not in ((node.get("metadata") or {}).get("annotations") or {}):
            return NodeState.LAUNCHING, None  # registered, its kubelet not Ready yet
        since = (_condition(node, "Ready") or {}).get("lastTransitionTime")
        return NodeState.NOT_READY, unix_s(since) or now_s
    if (node.get("spec") or {}).get("unschedulable"):
        return NodeState.CORDONED, None
    return NodeState.READY, None


def view_node(
    instance: Instance,
    node: Mapping[str, Any] | None,
    pods: Sequence[Pod],
    notice_s: float | None,
    now_s: float = 0.0,
) -> Node:
    """The instance as a policy's :class:`Node`: capacity from its offering, use from pods.

    A pod uses the GPUs its annotations record (the extender's binding); a pod bound without
    a record (whole GPUs from the device plugin) takes the first GPUs it fits on.
    """
    capacity = instance.offering.instance_type.capacity
    state, failed_s = _state(node, now_s)
    seen = Node(
        name=instance.name,
        offering=instance.offering,
        capacity=capacity,
        state=state,
        launched_s=instance.launched_s,
        notice_s=notice_s,
        failed_s=failed_s,
    )
    for pod in (p for p in pods if p.node == instance.name):
        gpus = pod.gpu_indices if _valid(pod.gpu_indices, capacity.gpu_count) else None
        if gpus is None and pod.requests.wants_gpu:
            free = (seen.gpu_free_milli, seen.gpu_free_memory_mib, capacity.device_memory_mib)
            gpus = choose_gpus(pod.requests, *free)
        seen = with_pod(seen, pod.requests, gpus or ())
    return seen


def _valid(gpus: tuple[int, ...], count: int) -> bool:
    return bool(gpus) and all(0 <= i < count for i in gpus)


def cluster_view(
    now_s: float,
    provider: NodeProvider,
    instances: Sequence[Instance],
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    offerings: Sequence[Offering],
    notices: Mapping[str, float],
    unavailable: frozenset[str] = frozenset(),
    replaced: frozenset[str] = frozenset(),
) -> ClusterView:
    """The snapshot a policy decides on; ``notices`` maps a node to when its notice came,
    ``unavailable`` names the offerings not to buy now (their launches failed), ``replaced``
    the noticed nodes whose replacement was already decided."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    seen = view_pods(pods, provider, {i.name for i in instances})
    view_nodes = [
        view_node(i, by_name.get(i.name), seen, notices.get(i.name), now_s) for i in instances
    ]
    # cluster-autoscaler's "filter out schedulable": a pending pod that fits a Ready node now
    # is the scheduler's to place (it retries when a node registers), not a reason to buy
    pending = [p for p in seen if p.phase is PodPhase.PENDING]
    left = {id(p) for p in first_fit(pending, [n for n in view_nodes if n.schedulable])}
    seen = [p for p in seen if p.phase is not PodPhase.PENDING or id(p) in left]
    return ClusterView(
        time_s=now_s,
        nodes=tuple(view_nodes),
        pods=tuple(seen),
        workloads=(),  # PodDisruptionBudgets are enforced by the Eviction API itself
        offerings=tuple(offerings),
        unavailable_offerings=unavailable,
        replaced=replaced,
    )
