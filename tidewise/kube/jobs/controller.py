"""The queue controller: each round, one admission pass over the cluster's jobs, applied.

Admit is un-suspend (the Job controller, or the training operator, then creates the pods and
kube-scheduler binds them where the pass found room); preempt is suspend again (their pods
are deleted and the job waits in its queue); a waiting job gets its position and reason in
annotations, which ``tidewise job list/get`` show, and an Event when the reason changes.
Level-triggered like the provisioner: a restart or a missed update costs one period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, cast

import numpy as np
from httpx2 import HTTPStatusError  # lightkube's HTTP client; ApiError derives from it
from lightkube import AsyncClient
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.batch_v1 import Job as KubeJob
from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType

from tidewise.kube.api.events import tell
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.jobs.observe import (
    ADMITTED,
    PLACEHOLDER_LABEL,
    POSITION,
    REASON,
    admission_record,
    is_placeholder,
    job_key,
    snapshot,
)
from tidewise.kube.jobs.placeholders import NodePool, held_message, placeholder_pods, pool_room
from tidewise.model import DEFAULT_QUEUE
from tidewise.queue import Ordering, QueueConfig, QueuePlan, QueuePolicy, whole_cluster_queue
from tidewise.queue.manifests import QUEUE_LABEL
from tidewise.queue.placeholders import Hold, placeholder_holds

log = logging.getLogger(__name__)

COMPONENT = "tidewise-queue"  # who reports the queue's Events

PyTorchJob = create_namespaced_resource("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs")
KINDS: tuple[type[NamespacedResource], ...] = (KubeJob, PyTorchJob)


def not_served(error: HTTPStatusError) -> bool:
    """The API has no such resource (a CRD not installed): a bare 404, not a Status."""
    return error.response.status_code == 404


async def if_served(listing: AsyncIterable[Any]) -> list[dict[str, Any]]:
    """Every object of a kind another project's CRD defines (Karpenter's NodePools); none
    where it is not installed. Asked each pass, so installing it later takes effect without
    a restart."""
    try:
        return [obj.to_dict() async for obj in listing]
    except HTTPStatusError as error:
        if not_served(error):
            return []
        raise


def suspend_patch(kind: str, suspend: bool) -> dict[str, Any]:
    if kind == "PyTorchJob":
        return {"spec": {"runPolicy": {"suspend": suspend}}}
    return {"spec": {"suspend": suspend}}


class QueueController:
    """Applies the queue policy's plan to the Jobs and PyTorchJobs that carry a queue label.

    ``queues``: the configured queues; ``None`` is one ``default`` queue holding every GPU the
    nodes have at each pass, so nodes that arrive raise the quota with the room. With
    ``metrics`` (inside ``tidewise operator``) each pass counts its admissions and preemptions
    and its duration, as the other controllers do.
    """

    name = "queue"

    def __init__(
        self,
        client: AsyncClient,
        queues: tuple[QueueConfig, ...] | None = None,
        ordering: Ordering = Ordering.TIDEWISE,
        clock: Callable[[], float] = time.time,
        period_s: float = 5.0,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self._client = client
        self._queues = queues
        self._ordering = ordering
        self._clock = clock
        self.period_s = period_s
        self._metrics = metrics
        self._kinds = list(KINDS)

    async def _jobs(self) -> list[tuple[type[NamespacedResource], dict[str, Any]]]:
        found = []
        for kind in list(self._kinds):
            try:
                listing = self._client.list(kind, namespace="*", labels={QUEUE_LABEL: None})
                # lightkube types what list yields as the base class, which does not declare
                # to_dict; every kind it yields has it
                found += [(kind, obj.to_dict()) async for obj in listing]  # type: ignore[attr-defined]
            except HTTPStatusError as error:
                if not not_served(error):
                    raise
                self._kinds.remove(kind)  # the CRD is not installed: never ask again
                log.info("%s is not served here; queueing batch/v1 Jobs only", kind.__name__)
        return found

    async def reconcile(self) -> QueuePlan:
        """One pass: read, plan, apply; returns the plan."""
        nodes = [n.to_dict() async for n in self._client.list(Node)]
        pods = [p.to_dict() async for p in self._client.list(Pod, namespace="*")]
        jobs = await self._jobs()
        room = pool_room(await if_served(self._client.list(NodePool)), nodes)
        now = self._clock()
        seen = snapshot(now, nodes, pods, [obj for _, obj in jobs])
        queues = self._queues
        if queues is None:  # every GPU there is, and every GPU the node pools may still buy
            models = Counter[str](room)
            for node in seen.nodes:
                models[node.capacity.gpu_model or ""] += node.capacity.gpu_count
            queues = (whole_cluster_queue(dict(models), DEFAULT_QUEUE),)
        plan = QueuePolicy(queues, self._ordering).plan(seen, np.random.default_rng(0))
        by_name = {job_key(obj): (kind, obj) for kind, obj in jobs}
        for admit in plan.admit:
            kind, obj = by_name[admit.job]
            patch = suspend_patch(obj["kind"], False)
            admitted = admission_record(now, admit.flavor, admit.binds)
            patch["metadata"] = {"annotations": {ADMITTED: admitted, POSITION: None, REASON: None}}
            await self._patch(kind, obj, patch)
            nodes_used = ", ".join(sorted({b.node for b in admit.binds}))
            message = f"every worker fits: started on {nodes_used}"
            await tell(self._client, obj, "Admitted", message, component=COMPONENT)
        for preempt in plan.preempt:
            kind, obj = by_name[preempt.job]
            patch = suspend_patch(obj["kind"], True)
            patch["metadata"] = {"annotations": {ADMITTED: None}}
            await self._patch(kind, obj, patch)
            message = f"suspended for {preempt.by}: {preempt.reason}"
            await tell(self._client, obj, "Preempted", message, component=COMPONENT)
        for waiting in plan.waiting:
            kind, obj = by_name[waiting.job]
            annotations = obj["metadata"].get("annotations") or {}
            position = str(waiting.position)
            if annotations.get(POSITION) == position and annotations.get(REASON) == waiting.reason:
                continue
            changed = annotations.get(REASON) != waiting.reason
            patch = {"metadata": {"annotations": {POSITION: position, REASON: waiting.reason}}}
            await self._patch(kind, obj, patch)
            if changed:
                message = f"{waiting.kind}: {waiting.reason}"
                await tell(self._client, obj, "Waiting", message, component=COMPONENT)
        holds = placeholder_holds(seen, plan, queues, room)
        await self._hold(holds, {a.job for a in plan.admit}, by_name, pods)
        return plan

    async def _hold(
        self,
        holds: tuple[Hold, ...],
        admitted: set[str],
        by_name: Mapping[str, tuple[type[NamespacedResource], dict[str, Any]]],
        pods: list[dict[str, Any]],
    ) -> None:
        """Placeholder pods for the gangs held, and none for any other job."""
        present: dict[str, set[str]] = {}
        for pod in pods:
            metadata = pod["metadata"]
            if is_placeholder(pod):
                key = f"{metadata['namespace']}/{metadata['labels'][PLACEHOLDER_LABEL]}"
                present.setdefault(key, set()).add(metadata["name"])
        wanted = {hold.job: hold for hold in holds}
        for key, names in present.items():
            if key in wanted:
                continue
            namespace = key.split("/", 1)[0]
            for name in sorted(names):
                await self._delete_placeholder(name, namespace)
            if key in by_name:
                why = "admitted" if key in admitted else "no longer next for new nodes"
                message = f"{why}: its {len(names)} placeholder pods deleted"
                await tell(
                    self._client,
                    by_name[key][1],
                    "PlaceholdersRemoved",
                    message,
                    component=COMPONENT,
                )
        for key, hold in wanted.items():
            obj = by_name[key][1]
            shaped = placeholder_pods(obj)
            missing = [p for p in shaped if p["metadata"]["name"] not in present.get(key, set())]
            for placeholder in missing:
                await self._create_placeholder(placeholder)
            if missing:
                message = held_message(hold, len(shaped))
                await tell(self._client, obj, "PlaceholdersCreated", message, component=COMPONENT)

    async def _create_placeholder(self, manifest: dict[str, Any]) -> None:
        placeholder = cast(Pod, Pod.from_dict(manifest))  # from_dict is typed on the mixin
        try:
            await self._client.create(placeholder)
        except HTTPStatusError as error:
            if error.response.status_code != 409:  # made by a pass just before: fine
                raise

    async def _delete_placeholder(self, name: str, namespace: str) -> None:
        try:
            await self._client.delete(Pod, name, namespace=namespace, grace_period=0)
        except HTTPStatusError as error:
            if error.response.status_code != 404:  # gone with its job: fine
                raise

    async def _patch(
        self, kind: type[NamespacedResource], obj: Mapping[str, Any], patch: dict[str, Any]
    ) -> None:
        name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
        merge = PatchType.MERGE  # the training operator's CRDs take no strategic merge
        await self._client.patch(kind, name, patch, namespace=namespace, patch_type=merge)

    async def sync(self) -> float:
        """One pass, measured; the seconds until the next (the operator's controller loop)."""
        start = time.monotonic()
        plan = await self.reconcile()
        if self._metrics is not None:
            self._metrics.reconcile_seconds.labels(controller=self.name).observe(
                time.monotonic() - start
            )
            jobs = len(plan.admit) + len(plan.preempt) + len(plan.waiting)
            self._metrics.objects.labels(controller=self.name).set(jobs)
            for rule, count in (("admit", len(plan.admit)), ("preempt", len(plan.preempt))):
                if count:
                    self._metrics.decisions.labels(controller=self.name, rule=rule).inc(count)
        return self.period_s

    def forget(self) -> None:
        """Nothing to forget: every pass starts from the cluster."""

    async def run(self, period_s: float) -> None:
        """A pass every ``period_s`` until cancelled; a failed pass is retried next."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("queue pass failed")
            await asyncio.sleep(period_s)
