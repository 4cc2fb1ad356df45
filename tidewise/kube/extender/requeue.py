"""Make kube-scheduler try again the pods the extender turned away, once it could place them.

Why: kube-scheduler keeps a pod it could not place in its unschedulable pool until a cluster
event might help it, or for at most ``podMaxInUnschedulablePodsDuration`` (5 minutes). It
learns nothing of what changes inside the extender: the books catching up with a node or a
deleted pod after the scheduler already asked, a booking dropped, a restart that emptied the
books, a standby that became the leader. A pod the extender rejected in such a moment would
wait up to 5 minutes beside free GPUs.

How: an update of the pod itself is a cluster event. In kube-scheduler v1.36
(``pkg/scheduler/backend/queue/scheduling_queue.go``, ``PriorityQueue.Update``), an update to
a pod in the unschedulable pool is passed through the queueing hints as an ``UnscheduledPod``
``Update`` event (``framework/events.go``, ``PodSchedulingPropertiesChange``: an annotation
change is the general ``Update``). A pod the extender rejected carries the pseudo-plugin
``Extender`` among its rejectors, registered for every Pod and Node event without a hint
(``framework/runtime/framework.go``, ``defaultEnqueueExtension``), and a pod that failed on an
error (the extender down) has no rejector at all, which ``isPodWorthRequeuing`` answers
``queueAfterBackoff``: either way the update moves the pod to the backoff or active queue.
So the extender stamps ``tidewise.io/extender-requeue`` on the pod (a merge patch of one
annotation; no scheduling property changes):

* when this replica starts to serve (its first listing in, and it leads): every pending pod
  asking for a managed resource whose ``PodScheduled`` condition is ``False`` (the scheduler
  tried it, perhaps while no extender answered);
* whenever the books gain room (``Sync.freed``): the pods its filter turned away from every
  node since, once each (a new rejection enrols a pod again) and no pod more often than every
  :data:`REPEAT_S`, so a large pod waiting in a busy cluster costs a write now and then, not
  one per pod that ends.

Only the leader writes; a pod deleted meanwhile is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod

from tidewise.kube.api.resources import PodRequestError, is_managed
from tidewise.kube.extender.metrics import ExtenderMetrics

log = logging.getLogger(__name__)

REQUEUE_ANNOTATION = "tidewise.io/extender-requeue"
ROUND_S = 1.0  # at most one round a second: a burst of frees costs one patch per pod
REPEAT_S = 10.0  # the least time between two stamps of one pod


def tried_and_waiting(pod: Mapping[str, Any]) -> bool:
    """A pod the scheduler tried and could not place, asking for a managed resource."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("nodeName") or meta.get("deletionTimestamp") or status.get("phase") != "Pending":
        return False
    scheduled = [c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"]
    if not scheduled or scheduled[0].get("status") != "False":
        return False
    try:
        return is_managed(pod)
    except PodRequestError:
        return True  # the extender told the scheduler why; the pod may have been fixed since


class Requeuer:
    """Stamps pods so kube-scheduler tries them again (see the module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        metrics: ExtenderMetrics,
        serving: Callable[[], bool],
        leading: Callable[[], bool],
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.metrics = client, metrics
        self.clock_ns, self.monotonic = clock_ns, monotonic
        self.serving, self.leading = serving, leading
        self.rejected: dict[str, tuple[str, str]] = {}  # uid -> (namespace, name)
        self._stamped: dict[str, float] = {}  # uid -> when last stamped
        self._room = asyncio.Event()

    def rejected_pod(self, pod: Mapping[str, Any]) -> None:
        """The filter turned the pod away from every node, for want of room now."""
        meta = pod.get("metadata") or {}
        if meta.get("uid") and meta.get("name"):
            self.rejected[meta["uid"]] = (meta.get("namespace") or "default", meta["name"])

    def freed(self) -> None:
        """The books gained room."""
        self._room.set()

    async def run(self) -> None:
        """Until cancelled: stamp every waiting pod when serving begins, then the rejected
        pods whenever the books gain room."""
        was_serving = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ROUND_S):
                    await self._room.wait()
            serving = self.serving() and self.leading()
            try:
                if serving and not was_serving:
                    self._room.clear()
                    self.rejected.clear()
                    await self.requeue_waiting()
                elif serving and self._room.is_set():
                    await self.requeue_rejected()
                was_serving = serving
            except Exception as error:  # the API server is away: try again next round
                log.warning("requeueing pods failed: %s", error)
            await asyncio.sleep(ROUND_S)

    async def requeue_rejected(self) -> None:
        """Stamp the pods rejected since their last stamp, unless stamped too recently (those
        wait for the next round: the books' room stays noted)."""
        now = self.monotonic()
        self._stamped = {u: at for u, at in self._stamped.items() if now - at < REPEAT_S}
        due = [uid for uid in self.rejected if uid not in self._stamped]
        if len(due) == len(self.rejected):
            self._room.clear()
        for uid in due:
            namespace, name = self.rejected.pop(uid)
            self._stamped[uid] = now
            await self._stamp(namespace, name)

    async def requeue_waiting(self) -> None:
        """Stamp every pod the scheduler tried and could not place."""
        pending = self.client.list(Pod, namespace="*", fields={"spec.nodeName": ""})
        waiting = [p.to_dict() async for p in pending]
        waiting = [p for p in waiting if tried_and_waiting(p)]
        now = self.monotonic()
        for pod in waiting:
            self._stamped[pod["metadata"]["uid"]] = now
            await self._stamp(pod["metadata"]["namespace"], pod["metadata"]["name"])
        if waiting:
            log.info("asked kube-scheduler to try %d waiting pods again", len(waiting))

    async def _stamp(self, namespace: str, name: str) -> None:
        patch = {"metadata": {"annotations": {REQUEUE_ANNOTATION: str(self.clock_ns())}}}
        try:
            await self.client.patch(Pod, name, patch, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            return
        self.metrics.requeued.inc()
