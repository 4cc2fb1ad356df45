"""The defragmenter: evicts the fewest GPU-share pods whose move frees the GPUs a waiting pod
needs, and lets the scheduler extender place everything by its usual policy.

Why evict and not re-bind: the pods a controller (a ReplicaSet, a Job, a StatefulSet)
recreates go through kube-scheduler and the extender like any new pod, so the moved pods and
the waiting one are placed by the one policy that placed everything else; the defragmenter
only decides which pods leave. The decision is the pure :func:`tidewise.placement.defrag.
plan_defrag` (the fewest moves; never a pod holding whole GPUs, a ``karpenter.sh/
do-not-disrupt`` pod, a DaemonSet's, a static pod or one no controller would recreate; never
more pods of a PodDisruptionBudget than its ``status.disruptionsAllowed``), and the
Eviction API checks each budget again when asked: a 429 stops the plan where it is.

A pass: list the nodes, pods and budgets; for each pod the scheduler marked unschedulable
that asks for whole GPUs through the extender (oldest first), build the cluster of the
schedulable nodes with the pods bound there (the GPUs each holds from the gpushare
annotations), each pod with the nodes it may run on (node selector, required node affinity,
tolerations of ``NoSchedule``/``NoExecute`` taints: :mod:`tidewise.placement.eligibility`,
the scheduler's rules), and plan. The first plan found is carried out and the pass ends: the
next pass sees the cluster as the evictions left it. A waiting pod is planned for again only after
``retry_s``, so that the recreated pods have time to land before a second plan moves more.

Events, where ``kubectl describe`` shows them: ``Defragmenting`` on the waiting pod (the pods
moved, and the node it is expected on), ``EvictedForDefragmentation`` on each moved pod,
``DefragmentationBlocked`` (Warning) on the waiting pod when a budget refused an eviction,
and ``NoDefragmentation`` once per waiting pod when no plan within ``max_moves`` exists.
Preferred affinities, pod (anti-)affinity and topology spread are not modelled: a moved pod
they steer elsewhere still lands by the scheduler's policy, only not where the plan expected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget

from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.events import tell
from tidewise.kube.api.eviction import evict, evictable
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.resources import (
    PodRequestError,
    has_finished,
    is_managed,
    node_capacity,
    pod_request,
    pod_resources,
)
from tidewise.kube.controllers import COMPONENT
from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.defrag import DefragPlan, PodLayout, RunningPod, plan_defrag
from tidewise.placement.eligibility import may_run_on, requirement_holds

log = logging.getLogger(__name__)

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
NAME = "defrag"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def pod_key(pod: Mapping[str, Any]) -> str:
    return f"{_meta(pod).get('namespace')}/{_meta(pod).get('name')}"


def waits_for_whole_gpus(pod: Mapping[str, Any]) -> bool:
    """Unbound, alive, marked unschedulable by the scheduler, and asking the extender for
    whole GPUs: the pods the defragmenter makes room for."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("nodeName") or _meta(pod).get("deletionTimestamp") or not is_managed(pod):
        return False
    unschedulable = any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in status.get("conditions") or []
    )
    try:
        return unschedulable and pod_request(pod).gpu_count > 0
    except PodRequestError:
        return False


def movable(pod: Mapping[str, Any]) -> bool:
    """Evictable, not already leaving, recreated by a controller, not marked do-not-disrupt."""
    meta = _meta(pod)
    if (meta.get("annotations") or {}).get(DO_NOT_DISRUPT) == "true":
        return False
    owned = any(o.get("controller") for o in meta.get("ownerReferences") or [])
    return owned and not meta.get("deletionTimestamp") and evictable(pod)


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector's match (matchLabels and matchExpressions); an empty selector
    selects every pod, as a policy/v1 PodDisruptionBudget's does."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(requirement_holds(t, labels) for t in selector.get("matchExpressions") or [])


def runs_on(pod: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> frozenset[int]:
    """The indices of the nodes the pod may run on, resources aside."""
    return frozenset(i for i, node in enumerate(nodes) if may_run_on(pod, node))


@dataclass(frozen=True)
class Snapshot:
    """The cluster as a waiting pod's plan sees it: ``names[i]`` is node ``i``; ``pods`` the
    bound pods by key (namespace/name); ``allowed`` the nodes the waiting pod may run on."""

    names: tuple[str, ...]
    cluster: GpuCluster
    layout: PodLayout
    budgets: dict[str, int]
    pods: dict[str, Mapping[str, Any]]
    allowed: np.ndarray


def snapshot(
    waiting: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    budgets: Sequence[Mapping[str, Any]],
) -> Snapshot:
    """The schedulable (not cordoned) nodes and where ``waiting`` may go among them
    (``allowed``), the pods bound there with the nodes each may run on, and every budget
    that covers one of them (``namespace/name`` to its allowance)."""
    chosen = [n for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
    allowed = np.zeros(len(chosen), dtype=bool)
    allowed[list(runs_on(waiting, chosen))] = True
    names = tuple(_meta(n)["name"] for n in chosen)
    index = {name: i for i, name in enumerate(names)}
    cluster = GpuCluster([node_capacity(n) for n in chosen], cpu_pods_on_gpu_nodes=True)
    running: list[RunningPod] = []
    bound: dict[str, Mapping[str, Any]] = {}
    for pod in pods:
        node = index.get((pod.get("spec") or {}).get("nodeName", ""))
        if node is None or has_finished(pod):
            continue
        key = pod_key(pod)
        covering = tuple(
            f"{_meta(b)['namespace']}/{_meta(b)['name']}"
            for b in budgets
            if _meta(b).get("namespace") == _meta(pod).get("namespace")
            and selects((b.get("spec") or {}).get("selector"), _meta(pod).get("labels") or {})
        )
        request = pod_resources(pod)
        gpus = recorded_gpus(pod) or ()
        if request.wants_gpu and len(gpus) != request.gpu_devices:
            # GPUs not recorded (yet): it holds its CPU and memory, and it stays
            request, gpus, can_move = Resources(request.cpu_milli, request.memory_mib), (), False
        else:
            can_move = movable(pod)
        cluster.bind(node, request, gpus)
        nodes_ok = runs_on(pod, chosen) if can_move else None
        running.append(RunningPod(key, node, gpus, request, covering, can_move, nodes_ok))
        bound[key] = pod
    allowances = {
        f"{_meta(b)['namespace']}/{_meta(b)['name']}": int(
            (b.get("status") or {}).get("disruptionsAllowed", 0)
        )
        for b in budgets
    }
    return Snapshot(names, cluster, PodLayout(cluster, running), allowances, bound, allowed)


class DefragController:
    """Runs as one of the operator's controllers (``tidewise.kube.api.loop.drive``)."""

    name = NAME

    def __init__(
        self,
        client: AsyncClient,
        metrics: ControllerMetrics,
        period_s: float = 5.0,
        max_moves: int = 4,
        retry_s: float = 60.0,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.period_s = period_s
        self.max_moves = max_moves
        self.retry_s = retry_s
        self._planned: dict[str, float] = {}  # waiting pod uid -> when its plan was carried out
        self._told: set[str] = set()  # waiting pod uids told there is no plan

    def forget(self) -> None:
        self._planned.clear()
        self._told.clear()

    async def sync(self) -> float:
        pods = [p.to_dict() async for p in self.client.list(Pod, namespace="*")]
        waiting = sorted(
            (p for p in pods if waits_for_whole_gpus(p)),
            key=lambda p: str(_meta(p).get("creationTimestamp", "")),
        )
        if not waiting:
            return self.period_s
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        budgets = [b.to_dict() async for b in self.client.list(PodDisruptionBudget, namespace="*")]
        now = time.monotonic()
        for pod in waiting:
            uid = _meta(pod).get("uid", pod_key(pod))
            if now - self._planned.get(uid, -self.retry_s) < self.retry_s:
                continue
            view = snapshot(pod, nodes, pods, budgets)
            plan = plan_defrag(
                view.cluster,
                view.layout,
                pod_request(pod),
                budgets=view.budgets,
                max_moves=self.max_moves,
                allowed=view.allowed,
            )
            if plan is None:
                if uid not in self._told:
                    self._told.add(uid)
                    message = f"no {self.max_moves} moves of GPU-share pods make room for it"
                    await tell(self.client, pod, "NoDefragmentation", message, component=COMPONENT)
                continue
            self._planned[uid] = now
            await self._carry_out(pod, plan, view)
            return self.period_s
        return self.period_s

    async def _carry_out(
        self, waiting: Mapping[str, Any], plan: DefragPlan, view: Snapshot
    ) -> None:
        """Evict the plan's pods in order; stop at the first refusal (its budget changed)."""
        node = view.names[plan.node]
        moved = [str(m.pod) for m in plan.moves]
        message = f"moving {', '.join(moved)} to free GPUs {list(plan.gpus)} on node {node}"
        await tell(self.client, pod_ref(waiting), "Defragmenting", message, component=COMPONENT)
        for move in plan.moves:
            pod = view.pods[str(move.pod)]
            if not await evict(self.client, pod):
                blocked = f"eviction of {move.pod} refused by its disruption budget"
                await tell(
                    self.client,
                    pod_ref(waiting),
                    "DefragmentationBlocked",
                    blocked,
                    component=COMPONENT,
                    warning=True,
                )
                return
            self.metrics.decisions.labels(controller=NAME, rule="evict").inc()
            reason = f"moved to make room for {pod_key(waiting)} on node {node}"
            await tell(
                self.client,
                pod_ref(pod),
                "EvictedForDefragmentation",
                reason,
                component=COMPONENT,
            )
        log.info("defragmenting for %s: %s", pod_key(waiting), message)


def pod_ref(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod as :func:`tell` names it (a listed pod's dict has no kind)."""
    return {"kind": "Pod", "apiVersion": "v1", "metadata": _meta(pod)}
