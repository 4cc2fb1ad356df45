"""Serverless bursts on a real cluster: pods that have waited past a bound for a VM go to a
virtual node (virtual-kubelet, Alibaba ECI), and come back to VMs when VMs can take them.

The decisions are the pure :mod:`tidewise.capacity.virtual_node` (which pending pods, which
pod back next, the twin's break-even); this module reads the cluster into its terms and
carries them out:

* **burst**: a pending pod the scheduler marked unschedulable, owned by a controller, whose
  workload opted in (the pod annotation :data:`OPT_IN`, from its template) or every such pod
  when the configuration says so, pending for ``bound_s`` since it was created, gets the
  toleration of the virtual node's taint added (a pod's tolerations may grow after creation;
  its nodeSelector and affinity may not). The scheduler then places it on the virtual node.
  Event ``BurstToVirtualNode`` on the pod.
* **move back**: one pod a pass, through the Eviction API (it honours PodDisruptionBudgets;
  the plan already keeps within each budget's ``disruptionsAllowed``), when a Ready VM it may
  run on has room or it is past the break-even, and only while no replica of its workload is
  in flight (pending, or on a VM and not Ready yet). The ReplicaSet's replacement is made
  from the template, so it carries no toleration and goes to a VM. Event ``MovedBackToVM`` on
  the pod, with its pod-seconds on the virtual node and what they cost at the catalog's
  serverless price; ``MoveBackBlocked`` (Warning) when a budget refused the eviction.

Nothing is remembered between passes: the toleration, the node a pod is on and the pods'
times are all in the API, so a new leader carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from tidewise.capacity.virtual_node import (
    BurstRules,
    MoveBack,
    OnVirtual,
    Waiting,
    move_back,
    to_burst,
)
from tidewise.catalog import serverless_price_per_hour
from tidewise.kube.api.events import tell
from tidewise.kube.api.eviction import evict, evictable
from tidewise.kube.api.labels import VIRTUAL_NODE_TAINT, is_virtual
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.resources import has_finished, node_capacity, node_name, pod_resources
from tidewise.kube.api.status import unix_s
from tidewise.kube.controllers import COMPONENT
from tidewise.kube.controllers.defrag import DO_NOT_DISRUPT, pod_key, pod_ref, selects
from tidewise.model import Offering, PodPhase, Resources
from tidewise.model import Pod as ModelPod
from tidewise.placement.eligibility import may_run_on

log = logging.getLogger(__name__)

NAME = "serverless-burst"
OPT_IN = "tidewise.io/serverless-burst"
"""A pod annotation (set it in the workload's pod template): ``"true"`` opts the workload in,
``"false"`` out even when the configuration bursts every workload."""
TOLERATION = {"key": VIRTUAL_NODE_TAINT, "operator": "Exists"}
"""Tolerates the virtual node's taint whatever its value and effect (providers differ)."""
CONCURRENT_PATCHES = 8


@dataclass(frozen=True)
class ServerlessBurstSettings:
    """The rules, the catalog's serverless offering (its price) and the VM offerings the
    break-even compares it with."""

    rules: BurstRules
    serverless: Offering
    vms: tuple[Offering, ...]
    period_s: float = 5.0


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _workload(pod: Mapping[str, Any]) -> str | None:
    """The uid of the controller that owns the pod (its ReplicaSet...), ``None`` for a bare
    pod: nothing would recreate it, so it is never moved, nor sent where it could not return."""
    owners = _meta(pod).get("ownerReferences") or []
    return next((o.get("uid") for o in owners if o.get("controller")), None)


def _alive(pod: Mapping[str, Any]) -> bool:
    return not (_meta(pod).get("deletionTimestamp") or has_finished(pod))


def _opted(pod: Mapping[str, Any]) -> bool | None:
    said = (_meta(pod).get("annotations") or {}).get(OPT_IN)
    return None if said is None else said.strip().lower() == "true"


def _model(pod: Mapping[str, Any], workload: str) -> ModelPod:
    """The pod in the policies' terms: named by ``namespace/name``, of its workload."""
    return ModelPod(pod_key(pod), workload, pod_resources(pod), PodPhase.PENDING, 0.0)


class ServerlessBurstController:
    """Runs as one of the operator's controllers (``tidewise.kube.api.loop.drive``)."""

    name = NAME

    def __init__(
        self, client: AsyncClient, metrics: ControllerMetrics, settings: ServerlessBurstSettings
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.settings = settings
        self.period_s = settings.period_s

    def forget(self) -> None:
        """Nothing is kept between passes."""

    async def sync(self) -> float:
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        virtual = [n for n in nodes if is_virtual(n)]
        if not virtual:
            return self.period_s
        pods = [p.to_dict() async for p in self.client.list(Pod, namespace="*")]
        now = time.time()
        await self._burst(pods, virtual, now)
        await self._move_back(pods, nodes, now)
        return self.period_s

    async def _burst(
        self, pods: Sequence[Mapping[str, Any]], virtual: Sequence[Mapping[str, Any]], now: float
    ) -> None:
        waiting: list[Waiting] = []
        by_key: dict[str, Mapping[str, Any]] = {}
        for pod in pods:
            workload, scheduled = _workload(pod), _condition(pod, "PodScheduled")
            if (
                workload is None
                or _spec(pod).get("nodeName")
                or not _alive(pod)
                or scheduled is None
                or scheduled.get("reason") != "Unschedulable"
                or any(
                    t.get("key") == VIRTUAL_NODE_TAINT for t in _spec(pod).get("tolerations") or []
                )
            ):
                continue
            with_toleration = {**pod, "spec": {**_spec(pod), "tolerations": _tolerations(pod)}}
            if not any(may_run_on(with_toleration, node) for node in virtual):
                continue
            created = unix_s(_meta(pod).get("creationTimestamp")) or now
            waiting.append(Waiting(_model(pod, workload), now - created, _opted(pod)))
            by_key[pod_key(pod)] = pod
        chosen = to_burst(waiting, self.settings.serverless, self.settings.rules)
        waited = {w.pod.name: w.waited_s for w in waiting}
        # a burst is many pods at once: patch them side by side, a few requests in flight
        # (one after another, 50 pods took seconds past the bound: bench/RESULTS.md)
        slots = asyncio.Semaphore(CONCURRENT_PATCHES)

        async def tolerate(model: ModelPod) -> None:
            async with slots:
                await self._tolerate(by_key[model.name], model, waited[model.name])

        await asyncio.gather(*(tolerate(model) for model in chosen))

    async def _tolerate(self, pod: Mapping[str, Any], model: ModelPod, waited_s: float) -> None:
        """Add the toleration; a pod changed meanwhile (409) or gone (404) waits for the next
        pass, which reads it again."""
        meta = _meta(pod)
        patch = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "spec": {"tolerations": _tolerations(pod)},
        }
        try:
            await self.client.patch(
                Pod, meta["name"], patch, namespace=meta["namespace"], patch_type=PatchType.MERGE
            )
        except ApiError as error:
            if error.status.code in (404, 409):
                return
            raise
        self.metrics.decisions.labels(controller=NAME, rule="burst").inc()
        price = serverless_price_per_hour(self.settings.serverless, model.requests)
        message = (
            f"pending {waited_s:.0f} s (bound {self.settings.rules.bound_s:g} s): tolerates "
            f"{VIRTUAL_NODE_TAINT} to run on a virtual node at ${price:.6f}/h, billed per second"
        )
        await tell(self.client, pod_ref(pod), "BurstToVirtualNode", message, component=COMPONENT)
        log.info("%s: %s", pod_key(pod), message)

    async def _move_back(
        self, pods: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]], now: float
    ) -> None:
        virtual = {node_name(n) for n in nodes if is_virtual(n)}
        vms = {
            node_name(n): n
            for n in nodes
            if not is_virtual(n)
            and not _spec(n).get("unschedulable")
            and (_condition(n, "Ready") or {}).get("status") == "True"
        }
        running = [
            p
            for p in pods
            if _spec(p).get("nodeName") in virtual
            and (p.get("status") or {}).get("phase") == "Running"
            and _workload(p) is not None
            and _alive(p)
            and evictable(p)
            and (_meta(p).get("annotations") or {}).get(DO_NOT_DISRUPT) != "true"
        ]
        if not running:
            return
        budgets = [b.to_dict() async for b in self.client.list(PodDisruptionBudget, namespace="*")]
        entries = [
            OnVirtual(
                _model(pod, str(_workload(pod))),
                now - (unix_s((pod.get("status") or {}).get("startTime")) or now),
                _covering(pod, budgets),
                tuple(name for name, node in vms.items() if may_run_on(_original(pod), node)),
            )
            for pod in running
        ]
        allowed = {
            _key(b): int((b.get("status") or {}).get("disruptionsAllowed", 0)) for b in budgets
        }
        decision = move_back(
            entries,
            _room(vms, pods),
            _in_flight(pods, virtual),
            allowed,
            self.settings.serverless,
            self.settings.vms,
            self.settings.rules,
        )
        if decision is not None:
            pod = next(p for p in running if pod_key(p) == decision.pod.name)
            ran_s = next(e.ran_s for e in entries if e.pod.name == decision.pod.name)
            await self._evict(pod, decision, ran_s)

    async def _evict(self, pod: Mapping[str, Any], decision: MoveBack, ran_s: float) -> None:
        ref = pod_ref(pod)
        if not await evict(self.client, pod):
            message = "eviction refused by its disruption budget: it stays on the virtual node"
            await tell(
                self.client, ref, "MoveBackBlocked", message, component=COMPONENT, warning=True
            )
            return
        self.metrics.decisions.labels(controller=NAME, rule="move-back").inc()
        price = serverless_price_per_hour(self.settings.serverless, decision.pod.requests)
        why = (
            f"node {decision.node} has room"
            if decision.node is not None
            else f"past the break-even of {decision.break_even_s:.0f} s on serverless"
        )
        message = (
            f"back to a VM ({why}): ran {ran_s:.0f} pod-seconds on virtual node "
            f"{_spec(pod).get('nodeName')}, ${price * ran_s / 3600:.6f} at ${price:.6f}/h"
        )
        await tell(self.client, ref, "MovedBackToVM", message, component=COMPONENT)
        log.info("%s: %s", pod_key(pod), message)


def _tolerations(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(_spec(pod).get("tolerations") or []), TOLERATION]


def _original(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod as its template made it: without the toleration this controller added."""
    kept = [t for t in _spec(pod).get("tolerations") or [] if t.get("key") != VIRTUAL_NODE_TAINT]
    return {**pod, "spec": {**_spec(pod), "tolerations": kept}}


def _key(obj: Mapping[str, Any]) -> str:
    return f"{_meta(obj).get('namespace')}/{_meta(obj).get('name')}"


def _covering(pod: Mapping[str, Any], budgets: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    labels = _meta(pod).get("labels") or {}
    return tuple(
        _key(b)
        for b in budgets
        if _meta(b).get("namespace") == _meta(pod).get("namespace")
        and selects(_spec(b).get("selector"), labels)
    )


def _room(
    vms: Mapping[str, Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]
) -> dict[str, Resources]:
    """Each Ready VM's allocatable CPU and memory less what its live pods request."""
    used: dict[str, list[int]] = {name: [0, 0] for name in vms}
    for pod in pods:
        node = _spec(pod).get("nodeName")
        if node in used and _alive(pod):
            requests = pod_resources(pod)
            used[node][0] += requests.cpu_milli
            used[node][1] += requests.memory_mib
    room = {}
    for name, node in vms.items():
        capacity = node_capacity(node)
        cpu, memory = capacity.cpu_milli - used[name][0], capacity.memory_mib - used[name][1]
        room[name] = Resources(cpu_milli=max(cpu, 0), memory_mib=max(memory, 0))
    return room


def _in_flight(pods: Sequence[Mapping[str, Any]], virtual: set[str]) -> frozenset[str]:
    """The workloads with a live replica not yet Ready on a VM: pending, or bound to a VM
    and not Ready yet."""
    flying = set()
    for pod in pods:
        workload, node = _workload(pod), _spec(pod).get("nodeName")
        if workload is None or not _alive(pod) or node in virtual:
            continue
        if (_condition(pod, "Ready") or {}).get("status") != "True":
            flying.add(workload)
    return frozenset(flying)
