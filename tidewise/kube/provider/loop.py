"""The provisioner: every period, read the cluster, ask the capacity policy, act.

Why level-triggered rounds (a fresh listing each round): every decision is taken from what
the API server and the provider hold now, so a missed event, a crash or a restart costs at
most one period; cluster-autoscaler scans every 10 s the same way. A watch on pods only says
*when*: a pod the scheduler marks unschedulable starts the next round at once (at most one
round a second), so a long period costs no reaction time and a dropped watch costs only the
period. Drains run as
tasks of their own (an eviction may wait minutes on a disruption budget) while the rounds go
on; a node annotated as draining is drained again after a restart.

An interruption notice cordons the node at once (nothing new lands on a machine about to go);
what follows is the interruption policy's (``interruptions``, e.g. ``InterruptionHandler``):
it buys a replacement from another pool, then drains the node once its pods fit elsewhere or
shortly before the reclaim. Without one, a noticed node is drained at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod
from prometheus_client import CollectorRegistry

from tidewise.kube.api.events import event, record
from tidewise.kube.api.status import stamp
from tidewise.kube.provider.backoff import LaunchBackoff
from tidewise.kube.provider.drain import (
    COMPONENT,
    DRAINING,
    DRAINING_FORCED,
    Drainer,
    Outcome,
    delete_node,
)
from tidewise.kube.provider.interface import PROVISIONER, Instance, NodeProvider
from tidewise.kube.provider.metrics import ProvisionerMetrics
from tidewise.kube.provider.observe import INITIALIZED, cluster_view, ready, unschedulable
from tidewise.model import (
    ClusterView,
    Controller,
    Decision,
    Drain,
    Launch,
    NodeState,
    Offering,
    PodPhase,
)
from tidewise.model import Node as ViewNode

log = logging.getLogger(__name__)

REPLACED = "tidewise.io/replacement-decided"
"""On a node with an interruption notice: when its replacement was decided (RFC 3339)."""
EVENTS_PER_ROUND = 50  # a burst of pending pods gets this many TriggeredScaleUp events at most
MIN_GAP_S = 1.0  # between two rounds, however many pods turn unschedulable
REWATCH_S = 1.0


@dataclass(frozen=True, slots=True)
class Order:
    """A drain to run: voluntary ones give up at their deadline, the others force it."""

    node: str
    reason: str
    voluntary: bool


def _voluntary(node: ViewNode | None) -> bool:
    """A drain of a healthy node (scale-down, consolidation) is voluntary; one of a noticed,
    failed or never-ready node is not."""
    healthy = (NodeState.READY, NodeState.CORDONED)
    return node is not None and node.state in healthy and node.notice_s is None


class Provisioner:
    """Carries out a capacity policy's Launch and Drain decisions through ``provider``, and
    the ``interruptions`` policy's for nodes the provider has a reclaim notice for."""

    def __init__(
        self,
        client: AsyncClient,
        provider: NodeProvider,
        policy: Controller,
        offerings: Sequence[Offering],
        clock: Callable[[], float] = time.time,
        interruptions: Controller | None = None,
        backoff: LaunchBackoff | None = None,
        metrics: ProvisionerMetrics | None = None,
        drain_timeout_s: float = 600.0,
    ) -> None:
        self._client = client
        self._provider = provider
        self._policy = policy
        self._interruptions = interruptions
        self._offerings = tuple(offerings)
        self._clock = clock
        self._backoff = backoff or LaunchBackoff()
        self.metrics = metrics or ProvisionerMetrics(CollectorRegistry())
        self._drainer = Drainer(client, drain_timeout_s, clock, metrics=self.metrics)
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._work = asyncio.Event()

    async def observe(self) -> tuple[ClusterView, list[Order]]:
        """The view, and the drains to run whatever the policy says (resumed from the node's
        annotations, or a notice when no interruption policy decides). On the way: failed
        launches are forgotten and their offerings backed off, noticed nodes cordoned, nodes
        seen Ready marked :data:`INITIALIZED`. Nodes being drained are left out of the view:
        they are leaving, and the policies plan without them (their evicted pods show up as
        pending)."""
        instances = await self._held()
        nodes = [
            n.to_dict()
            async for n in self._client.list(Node, labels={PROVISIONER: self._provider.name})
        ]
        pods = [p.to_dict() async for p in self._client.list(Pod, namespace="*")]
        now = self._clock()
        noticed = await self._noticed(instances, nodes)
        await self._mark_initialized(nodes, now)
        must: list[Order] = []
        if self._interruptions is None:
            must = [Order(name, "interruption notice", False) for name in noticed]
        for node in nodes:
            annotations = node["metadata"].get("annotations") or {}
            if annotations.get(DRAINING):
                forced = annotations.get(DRAINING_FORCED) == "true"
                must.append(Order(node["metadata"]["name"], annotations[DRAINING], not forced))
        leaving = {order.node for order in must} | set(self._draining)
        unavailable = self._backoff.blocked(now)
        self.metrics.backed_off.set(len(unavailable))
        replaced = frozenset(
            n["metadata"]["name"]
            for n in nodes
            if REPLACED in (n["metadata"].get("annotations") or {})
        )
        view = cluster_view(
            now,
            self._provider,
            [i for i in instances if i.name not in leaving],
            [n for n in nodes if n["metadata"]["name"] not in leaving],
            pods,
            self._offerings,
            noticed,
            unavailable,
            replaced & noticed.keys(),
        )
        self.metrics.observe(view, instances)
        return view, must

    async def _held(self) -> list[Instance]:
        """The provider's machines; a failed launch is given back and its offering backed
        off."""
        held = []
        for instance in await self._provider.list():
            if instance.error is None:
                held.append(instance)
                continue
            await self._launch_failed(instance.offering, instance.error, "error", instance.name)
            await self._provider.terminate(instance.name)
        return held

    async def _noticed(
        self, instances: Sequence[Instance], nodes: list[dict[str, Any]]
    ) -> dict[str, float]:
        """When each noticed node's notice came as the policies count it (their reclaim is
        the notice plus the offering's notice period, so that it is the provider's deadline);
        noticed nodes are cordoned at once."""
        offerings = {i.name: i.offering for i in instances}
        noticed = {
            n.node: n.deadline_s - offerings[n.node].notice_s
            for n in await self._provider.notices()
            if n.node in offerings
        }
        for node in nodes:
            name, spec = node["metadata"]["name"], node.get("spec") or {}
            if name in noticed and not spec.get("unschedulable"):
                await self._client.patch(Node, name, {"spec": {"unschedulable": True}})
                node["spec"] = {**spec, "unschedulable": True}
                log.info("cordoned %s: interruption notice", name)
                message = "interruption notice: cordoned, its pods move before the reclaim"
                await self._tell(name, "InterruptionNotice", message, warning=True)
        return noticed

    async def _mark_initialized(self, nodes: list[dict[str, Any]], now: float) -> None:
        """Write :data:`INITIALIZED` on nodes seen Ready for the first time, so that a later
        NotReady reads as a failure, by this process or the next."""
        for node in nodes:
            annotations = node["metadata"].setdefault("annotations", {}) or {}
            if INITIALIZED in annotations or not ready(node):
                continue
            at = stamp(datetime.fromtimestamp(now, UTC))
            patch = {"metadata": {"annotations": {INITIALIZED: at}}}
            await self._client.patch(Node, node["metadata"]["name"], patch)
            node["metadata"]["annotations"] = {**annotations, INITIALIZED: at}

    async def reconcile(self) -> list[Decision]:
        """One round: drains that must happen, then the policy's decisions (returned)."""
        view, must = await self.observe()
        for order in must:
            self._start_drain(order)
        decisions = list(self._policy.decide(view))
        if self._interruptions is not None:
            decisions += self._interruptions.decide(view)
            await self._record_replaced(view)
        by_name = {n.name: n for n in view.nodes}
        for decision in decisions:
            if isinstance(decision, Launch):
                await self._launch(decision.offering, decision.count)
            elif isinstance(decision, Drain):
                node = by_name.get(decision.node)
                if node is not None and node.state is NodeState.LAUNCHING:
                    age = view.time_s - node.launched_s
                    why = f"not Ready {age:.0f} s after its launch"
                    await self._launch_failed(node.offering, why, "timeout", node.name)
                self._start_drain(Order(decision.node, decision.reason, _voluntary(node)))
        await self._explain_launches(view, [d for d in decisions if isinstance(d, Launch)])
        return decisions

    async def _record_replaced(self, view: ClusterView) -> None:
        """Write on each noticed node that its replacement is decided, before anything is
        bought for it (intent first): the interruption policy decides a replacement once, at
        the first sight of a notice, and a restarted process reads this instead of its lost
        memory. A failed write fails the round before the purchase."""
        for node in view.nodes:
            if node.notice_s is None or node.name in view.replaced:
                continue
            at = stamp(datetime.fromtimestamp(view.time_s, UTC))
            await self._client.patch(Node, node.name, {"metadata": {"annotations": {REPLACED: at}}})

    async def _launch(self, offering: Offering, count: int) -> None:
        for _ in range(count):
            try:
                name = await self._provider.launch(offering)
            except Exception as error:  # the provider refused: try elsewhere next round
                await self._launch_failed(offering, str(error) or type(error).__name__, "error")
                return
            log.info("launching %s as %s", offering.key, name)

    async def _launch_failed(
        self, offering: Offering, error: str, reason: str, machine: str | None = None
    ) -> None:
        """Back the offering off, count it, and say so on the machine (a Warning event)."""
        until = self._backoff.failed(offering.key, self._clock())
        self.metrics.launch_failures.labels(offering=offering.key, reason=reason).inc()
        wait = until - self._clock()
        message = f"launch of {offering.key} failed ({error}); not bought for {wait:.0f} s"
        log.warning("%s: %s", machine or "launch", message)
        if machine is not None:
            await self._tell(machine, "FailedLaunch", message, warning=True)

    async def _explain_launches(self, view: ClusterView, launches: list[Launch]) -> None:
        """``TriggeredScaleUp`` on the pending pods a round's launches are for."""
        if not launches:
            return
        bought = ", ".join(f"{launch.offering.key} x{launch.count}" for launch in launches)
        pending = [p for p in view.pods if p.phase is PodPhase.PENDING][:EVENTS_PER_ROUND]
        for pod in pending:
            namespace = pod.workload.split("/", 1)[0]
            message = f"pod triggered scale-up: {bought}"
            reason = "TriggeredScaleUp"
            told = event("Pod", pod.name, namespace, reason, message, component=COMPONENT)
            await record(self._client, told)

    def _start_drain(self, order: Order) -> None:
        if order.node in self._draining:
            return
        kind = "voluntary" if order.voluntary else "involuntary"
        log.info("draining %s (%s): %s", order.node, kind, order.reason)
        self._draining[order.node] = asyncio.create_task(self._drain(order))

    async def _drain(self, order: Order) -> None:
        node = order.node
        await self._tell(node, "ScaleDown", f"draining: {order.reason}")
        try:
            outcome = await self._drainer.drain(node, order.reason, order.voluntary)
            if outcome is not Outcome.ABORTED:
                await self._provider.terminate(node)
                await delete_node(self._client, node)
        except Exception as error:  # the next round sees the annotation and drains it again
            log.exception("draining %s failed", node)
            message = f"draining failed ({error}); retried next round"
            await self._tell(node, "DrainFailed", message, warning=True)
        finally:
            del self._draining[node]

    async def _tell(self, node: str, reason: str, message: str, warning: bool = False) -> None:
        told = event("Node", node, None, reason, message, warning, component=COMPONENT)
        await record(self._client, told)

    async def watch_unschedulable(self) -> None:
        """Set the wake-up whenever a pod is (or is found) unschedulable; forever."""
        while True:
            try:
                async for _, pod in self._client.watch(Pod, namespace="*"):
                    if unschedulable(pod.to_dict()):
                        self._work.set()
            except Exception as error:  # the rounds go on; the watch is only a shortcut
                log.warning("pod watch ended (%s); watching again", error)
            await asyncio.sleep(REWATCH_S)

    async def rounds(self, period_s: float, one_round: Callable[[], Awaitable[None]]) -> None:
        """``one_round`` every ``period_s``, or sooner when a pod turns unschedulable."""
        watch = asyncio.create_task(self.watch_unschedulable())
        log.info("rounds every %g s, and when a pod turns unschedulable", period_s)
        gap = min(MIN_GAP_S, period_s)
        try:
            while True:
                self._work.clear()
                await one_round()
                await asyncio.sleep(gap)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), period_s - gap)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def run(self, period_s: float) -> None:
        """Reconcile every ``period_s`` (or when woken) until cancelled; a failed round is
        retried next."""

        async def one_round() -> None:
            try:
                await self.reconcile()
            except Exception:
                log.exception("provisioning round failed")

        await self.rounds(period_s, one_round)
