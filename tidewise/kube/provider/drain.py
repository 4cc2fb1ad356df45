"""Emptying a node before it is given back: cordon, then evict every pod, within a deadline.

Why the Eviction API (not deleting pods): it is the one path that honours
PodDisruptionBudgets. A 429 means the budget allows no disruption now; the drain asks again
with a growing delay (Karpenter's eviction queue: 100 ms doubling to 10 s,
``pkg/controllers/node/termination/terminator/eviction.go``), says so once in a
``FailedDraining`` event (again every five minutes while it lasts), and never asks in a hot
loop.

Every drain has a deadline, ``timeout_s`` after it first began (Karpenter's
``terminationGracePeriod``; cluster-autoscaler's ``--max-graceful-termination-sec`` is 600 s
too). What happens there depends on why the node goes:

* voluntary (scale-down, consolidation: the node is healthy, only money is at stake): the
  drain gives up, uncordons the node and says ``ScaleDownFailed``, as cluster-autoscaler does
  when evictions fail; a pod that keeps its node (``disruption.blocks_scale_down``) makes it
  give up at once, before anything is evicted;
* involuntary (a reclaim announced, a node that failed or never booted): the machine goes
  whatever the budgets say, so at the deadline what is left is deleted (``DrainForced``),
  Karpenter's terminationGracePeriod semantics.

The cordon is written on the node with the reason, when the drain began and whether it may
be forced, so that a provisioner restarted mid-drain resumes it with its first deadline
(level-triggered). A pod stuck terminating past its grace period is not waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, Pod
from prometheus_client import CollectorRegistry

from tidewise.kube.api.events import event, record
from tidewise.kube.api.eviction import evict, evictable
from tidewise.kube.api.status import parse_stamp, stamp
from tidewise.kube.provider.disruption import (
    blocks_scale_down,
    stuck_terminating,
    terminating,
)
from tidewise.kube.provider.metrics import ProvisionerMetrics

log = logging.getLogger(__name__)

COMPONENT = "tidewise-provisioner"  # who reports the provisioner's Events
DRAINING = "tidewise.io/draining"
"""Annotation on a node being emptied; its value is the reason."""
DRAINING_SINCE = "tidewise.io/draining-since"
"""When the drain first began (RFC 3339): its deadline counts from here."""
DRAINING_FORCED = "tidewise.io/draining-forced"
"""``"true"`` on an involuntary drain: at its deadline what is left is deleted."""
EVICTION_RETRY_S = 0.1
EVICTION_RETRY_MAX_S = 10.0
TERMINATING_POLL_S = 1.0  # while evicted pods shut down
TELL_EVERY_S = 300.0


class Outcome(StrEnum):
    DRAINED = "drained"
    FORCED = "forced"  # the deadline passed: what was left was deleted
    ABORTED = "aborted"  # a voluntary drain gave up; the node is schedulable again
    GONE = "gone"  # no Node object: nothing to drain


def _name(pod: Mapping[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


@dataclass
class Drainer:
    client: AsyncClient
    timeout_s: float = 600.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    metrics: ProvisionerMetrics = field(
        default_factory=lambda: ProvisionerMetrics(CollectorRegistry())
    )

    async def drain(self, node: str, reason: str, voluntary: bool) -> Outcome:
        """Cordon ``node`` and evict its pods until none is left (the caller then gives the
        machine back and deletes the Node, in that order, so that no process sees a recorded
        machine without its Node and boots it on)."""
        begun = await self._cordon(node, reason, voluntary)
        if begun is None:
            log.info("node %s has no Node object: nothing to drain (%s)", node, reason)
            return self._done(Outcome.GONE)
        since_s, voluntary = begun
        deadline = since_s + self.timeout_s
        retry_s, told_s, forced = EVICTION_RETRY_S, float("-inf"), False
        while True:
            now = self.clock()
            left = [p for p in await self._pods(node) if not stuck_terminating(p, now)]
            if not left:
                break
            if voluntary:
                kept = [(p, why) for p in left if (why := blocks_scale_down(p))]
                if kept:
                    pod, why = kept[0]
                    return await self._give_up(node, f"pod {_name(pod)} {why}")
            if now >= deadline:
                if voluntary:
                    why = f"{len(left)} pods not evicted within {self.timeout_s:.0f} s"
                    return await self._give_up(node, why)
                if not forced:
                    await self._force(node, [p for p in left if not terminating(p)])
                    forced = True
                await self.sleep(TERMINATING_POLL_S)
                continue
            refused = [p for p in left if not terminating(p) and not await self._evict(p)]
            if not refused:
                retry_s = EVICTION_RETRY_S
                await self.sleep(TERMINATING_POLL_S)
                continue
            log.info("node %s: %d pods wait for their disruption budgets", node, len(refused))
            if now - told_s >= TELL_EVERY_S:
                told_s = now
                names = ", ".join(_name(p) for p in refused[:5])
                message = (
                    f"{len(refused)} pods wait for their disruption budgets ({names}); asked "
                    f"again until {stamp(datetime.fromtimestamp(deadline, UTC))}"
                )
                await self._tell(node, "FailedDraining", message)
            await self.sleep(max(min(retry_s, deadline - now), 0.0))
            retry_s = min(retry_s * 2, EVICTION_RETRY_MAX_S)
        log.info("node %s drained (%s)", node, reason)
        return self._done(Outcome.FORCED if forced else Outcome.DRAINED)

    async def _cordon(self, node: str, reason: str, voluntary: bool) -> tuple[float, bool] | None:
        """Mark ``node`` unschedulable and as being drained, keeping the start and the kind
        of a drain already begun; ``None`` when there is no Node (a machine that never
        registered)."""
        try:
            current = await self.client.get(Node, node)
        except ApiError as error:
            if error.status.code != 404:
                raise
            return None
        annotations = (current.metadata.annotations if current.metadata else None) or {}
        try:
            since_s = parse_stamp(annotations[DRAINING_SINCE]).timestamp()
        except (KeyError, ValueError):
            since_s = self.clock()
        voluntary = voluntary and annotations.get(DRAINING_FORCED) != "true"
        marks = {
            DRAINING: annotations.get(DRAINING) or reason,
            DRAINING_SINCE: stamp(datetime.fromtimestamp(since_s, UTC)),
            DRAINING_FORCED: None if voluntary else "true",
        }
        patch = {"spec": {"unschedulable": True}, "metadata": {"annotations": marks}}
        try:
            await self.client.patch(Node, node, patch)
        except ApiError as error:
            if error.status.code != 404:
                raise
            return None
        return since_s, voluntary

    async def _pods(self, node: str) -> list[dict[str, Any]]:
        listed = self.client.list(Pod, namespace="*", fields={"spec.nodeName": node})
        return [p.to_dict() async for p in listed if evictable(p.to_dict())]

    async def _evict(self, pod: Mapping[str, Any]) -> bool:
        """Ask to evict; ``False`` while a disruption budget forbids it (429)."""
        evicted = await evict(self.client, pod)
        self.metrics.evictions.labels(outcome="evicted" if evicted else "refused").inc()
        return evicted

    async def _force(self, node: str, pods: Sequence[Mapping[str, Any]]) -> None:
        """Delete what the budgets still hold: the machine goes at its deadline anyway."""
        for pod in pods:
            meta = pod["metadata"]
            try:
                await self.client.delete(Pod, meta["name"], namespace=meta["namespace"])
            except ApiError as error:
                if error.status.code != 404:
                    raise
            self.metrics.evictions.labels(outcome="deleted").inc()
        names = ", ".join(_name(p) for p in pods[:5])
        message = f"deadline of {self.timeout_s:.0f} s passed: deleted {len(pods)} pods ({names})"
        log.warning("node %s: %s", node, message)
        await self._tell(node, "DrainForced", message)

    async def _give_up(self, node: str, why: str) -> Outcome:
        """Uncordon the node and forget the drain (cluster-autoscaler's failed scale-down)."""
        marks = {DRAINING: None, DRAINING_SINCE: None, DRAINING_FORCED: None}
        patch = {"spec": {"unschedulable": False}, "metadata": {"annotations": marks}}
        await self.client.patch(Node, node, patch)
        message = f"scale-down given up: {why}; the node is schedulable again"
        log.warning("node %s: %s", node, message)
        await self._tell(node, "ScaleDownFailed", message)
        return self._done(Outcome.ABORTED)

    async def _tell(self, node: str, reason: str, message: str) -> None:
        told = event("Node", node, None, reason, message, True, component=COMPONENT)
        await record(self.client, told)

    def _done(self, outcome: Outcome) -> Outcome:
        self.metrics.drains.labels(outcome=outcome.value).inc()
        return outcome


async def delete_node(client: AsyncClient, node: str) -> None:
    """Delete the Node object once its machine is given back (404: already gone)."""
    try:
        await client.delete(Node, node)
    except ApiError as error:
        if error.status.code != 404:
            raise
