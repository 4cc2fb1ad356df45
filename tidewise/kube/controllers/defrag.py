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

The GPUs freed are reserved for the waiting pod (:mod:`tidewise.kube.api.reservation`, an
annotation on the node naming the GPUs, the pod and an expiry, ``reserve_s`` ahead): the
scheduler extender keeps every other pod off them, so the evicted pods, recreated at once by
their controllers, land elsewhere while the waiting pod sits out its scheduling back-off.
Each pass first releases the reservations whose pod is bound, gone or past the expiry, and
plans for no pod that still holds one; another pod's plan counts reserved GPUs as taken.

Events, where ``kubectl describe`` shows them: ``Defragmenting`` on the waiting pod (the pods
moved, and the node it is expected on), ``EvictedForDefragmentation`` on each moved pod,
``DefragmentationBlocked`` (Warning) on the waiting pod when a budget refused an eviction,
``NoDefragmentation`` once per waiting pod when no plan within ``max_moves`` exists,
``GpusReserved`` on the waiting pod and ``GpuReservationReleased`` on the node (and on the
pod, when it still exists) with why: bound, expired or gone.
Preferred affinities, pod (anti-)affinity and topology spread are not modelled: a moved pod
they steer elsewhere still lands by the scheduler's policy, only not where the plan expected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.events import event, record, tell
from tidewise.kube.api.eviction import evict, evictable
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.reservation import (
    RESERVATION,
    GpuReservation,
    reservation_of,
    reservation_patch,
)
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
RESERVE_S = 120.0
"""How long the GPUs freed stay held for the waiting pod: its scheduling back-off (at most
10 s by default, kube-scheduler's podMaxBackoffSeconds) and its recreated neighbours'
placement many times over, and short enough that a pod that will never bind blocks little."""
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
    held: Mapping[str, GpuReservation] | None = None,
) -> Snapshot:
    """The schedulable (not cordoned) nodes and where ``waiting`` may go among them
    (``allowed``), the pods bound there with the nodes each may run on, and every budget
    that covers one of them (``namespace/name`` to its allowance). The GPUs ``held`` (node
    name to its live reservation) for another pod are taken: no plan for ``waiting`` frees
    or claims them."""
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
    for name, reservation in (held or {}).items():
        node = index.get(name)
        if node is None or not reservation.gpus or reservation.uid == _meta(waiting).get("uid"):
            continue
        gpus = tuple(g for g in reservation.gpus if g < cluster.gpu_count[node])
        hold = Resources(gpu_count=len(gpus))
        try:
            cluster.bind(node, hold, gpus)
        except ValueError:
            continue  # a GPU not idle yet: the pod still on it is leaving, so it stays
        running.append(RunningPod(f"{RESERVATION}/{name}", node, gpus, hold, movable=False))
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
        reserve_s: float = RESERVE_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.period_s = period_s
        self.max_moves = max_moves
        self.retry_s = retry_s
        self.reserve_s = reserve_s
        self.wall = wall
        self._planned: dict[str, float] = {}  # waiting pod uid -> when its plan was carried out
        self._told: set[str] = set()  # waiting pod uids told there is no plan

    def forget(self) -> None:
        self._planned.clear()
        self._told.clear()

    async def sync(self) -> float:
        pods = [p.to_dict() async for p in self.client.list(Pod, namespace="*")]
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        held = await self._release(nodes, pods)
        holders = {r.uid for r in held.values()}
        waiting = sorted(
            (p for p in pods if waits_for_whole_gpus(p) and _meta(p).get("uid") not in holders),
            key=lambda p: str(_meta(p).get("creationTimestamp", "")),
        )
        if not waiting:
            return self.period_s
        budgets = [b.to_dict() async for b in self.client.list(PodDisruptionBudget, namespace="*")]
        now = time.monotonic()
        for pod in waiting:
            uid = _meta(pod).get("uid", pod_key(pod))
            if now - self._planned.get(uid, -self.retry_s) < self.retry_s:
                continue
            view = snapshot(pod, nodes, pods, budgets, held)
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

    async def _release(
        self, nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]
    ) -> dict[str, GpuReservation]:
        """Release the reservations whose pod is bound, gone or past the expiry; the nodes'
        reservations that still hold."""
        by_uid = {_meta(p).get("uid"): p for p in pods}
        now = self.wall()
        held: dict[str, GpuReservation] = {}
        for node in nodes:
            reservation = reservation_of(node)
            if reservation is None:
                continue
            pod = by_uid.get(reservation.uid)
            if pod is not None and (pod.get("spec") or {}).get("nodeName"):
                why = f"bound to node {pod['spec']['nodeName']}"  # and maybe finished since
            elif pod is None or _meta(pod).get("deletionTimestamp") or has_finished(pod):
                why = "gone"
            elif reservation.expired(now):
                why = "expired"
            else:
                held[_meta(node)["name"]] = reservation
                continue
            name, uid = _meta(node)["name"], _meta(node).get("uid")
            await self._unreserve(name, reservation, why, pod, uid)
        return held

    async def _unreserve(
        self,
        node: str,
        reservation: GpuReservation,
        why: str,
        pod: Mapping[str, Any] | None,
        node_uid: str | None = None,
    ) -> None:
        """Remove the node's reservation and say why, on the node (``node_uid``: where
        ``kubectl describe node`` finds it) and on the pod if any."""
        await self._set_reservation(node, None)
        message = f"GPUs {list(reservation.gpus)} no longer held for {reservation.pod}: {why}"
        reason = "GpuReservationReleased"
        told = event("Node", node, None, reason, message, component=COMPONENT, uid=node_uid)
        await record(self.client, told)
        if pod is not None:
            await tell(self.client, pod_ref(pod), reason, message, component=COMPONENT)

    async def _set_reservation(self, node: str, reservation: GpuReservation | None) -> None:
        patch = reservation_patch(reservation)
        await self.client.patch(Node, node, patch, patch_type=PatchType.MERGE)

    async def _carry_out(
        self, waiting: Mapping[str, Any], plan: DefragPlan, view: Snapshot
    ) -> None:
        """Reserve the GPUs to be freed for the waiting pod, then evict the plan's pods in
        order; at the first refusal (its budget changed) stop and release the reservation.

        Why reserve first: a ReplicaSet recreates an evicted pod within a second, and the
        extender must already keep it off the GPUs freed when the scheduler places it."""
        node = view.names[plan.node]
        moved = [str(m.pod) for m in plan.moves]
        message = f"moving {', '.join(moved)} to free GPUs {list(plan.gpus)} on node {node}"
        await tell(self.client, pod_ref(waiting), "Defragmenting", message, component=COMPONENT)
        until = self.wall() + self.reserve_s
        reservation = GpuReservation(pod_key(waiting), _meta(waiting)["uid"], plan.gpus, until)
        await self._set_reservation(node, reservation)
        held = f"GPUs {list(plan.gpus)} on node {node} held for it for {self.reserve_s:.0f} s"
        await tell(self.client, pod_ref(waiting), "GpusReserved", held, component=COMPONENT)
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
                await self._unreserve(node, reservation, blocked, waiting)
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
