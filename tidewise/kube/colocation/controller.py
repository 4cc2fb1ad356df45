"""The ``colocation`` controller: each pass, per node, what online pods requested and left
idle is published as batch resources, and batch pods are evicted when online usage rises.

Per node (``tidewise.capacity.reclaim``'s rule does the arithmetic):

* online pods are the live pods on it without the ``tidewise.io/qos: batch`` label; their
  requests are summed and their usage read from Prometheus (a pod Prometheus has no sample
  for, in CPU or in memory, counts as using all it requested of it: nothing is lent from
  what is not measured);
* the usage joins the recent peak kept on the Node (``peak``), and the node lends
  ``reclaimable(requests, peak)`` in its status capacity and allocatable, written through
  ``nodes/status``, as ack-koordinator updates ``kubernetes.io/batch-cpu`` on the Node from
  the node's load (docs/colocation.md cites it); a change past ``change`` of the last figure
  is told in a ``BatchResourcesChanged`` Event on the node;
* ``evictions(requests, usage now, batch pods)`` names the batch pods that no longer fit
  under the online pods' current need (checkpointable first, then newest); each is evicted
  through the Eviction API, told in an ``EvictedForOnlineLoad`` Event on the pod and one on
  the node naming the usage. Only pods labelled batch are ever candidates.

Everything is read from the API and Prometheus each pass; the peak lives on the Node.
A pass whose usage cannot be read changes nothing (the error is counted and logged).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.types import PatchType

from tidewise.capacity.reclaim import evictions, reclaimable
from tidewise.kube.api.events import event, record
from tidewise.kube.api.eviction import evict
from tidewise.kube.api.labels import is_virtual
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.resources import cpu_and_memory
from tidewise.kube.colocation.batch import MIB, batch_pod, is_batch, is_live
from tidewise.kube.colocation.peak import ANNOTATION, read_peak
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.kube.colocation.usage import PodKey, PodUsage, pod_usage
from tidewise.model import Resources
from tidewise.model.quantity import QuantityError, quantity

log = logging.getLogger(__name__)

NAME = "colocation"
COMPONENT = "tidewise-colocation"


def _key(pod: Mapping[str, Any]) -> PodKey:
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def _sum(items: list[Resources]) -> Resources:
    return Resources(
        cpu_milli=sum(r.cpu_milli for r in items), memory_mib=sum(r.memory_mib for r in items)
    )


def describe(amount: Resources) -> str:
    return f"{amount.cpu_milli}m CPU, {amount.memory_mib}Mi memory"


def material(before: Resources | None, after: Resources, share: float) -> bool:
    """Whether the lent capacity moved enough to be told: the first figure, to or from
    zero, or past ``share`` of the last one in CPU or memory."""
    if before is None:
        return True
    pairs = ((before.cpu_milli, after.cpu_milli), (before.memory_mib, after.memory_mib))
    return any(
        (old == 0) != (new == 0) or abs(new - old) > share * old for old, new in pairs if old != new
    )


class ColocationController:
    """One pass over every node with the pods on it."""

    name = NAME

    def __init__(
        self,
        client: AsyncClient,
        metrics: ControllerMetrics,
        settings: ColocationSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.settings = settings
        self.period_s = settings.period_s
        self.clock = clock

    def forget(self) -> None:
        """Nothing is kept between passes (the peak is on the Node)."""

    async def sync(self) -> float:
        settings = self.settings
        usage = await pod_usage(settings.prometheus_url, settings.cpu_query, settings.memory_query)
        pods: dict[str, list[dict[str, Any]]] = defaultdict(list)
        async for found in self.client.list(Pod, namespace="*"):
            pod = found.to_dict()
            if is_live(pod):
                pods[pod["spec"]["nodeName"]].append(pod)
        # a virtual node (serverless containers) has no idle capacity to lend
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        nodes = [n for n in nodes if not is_virtual(n)]
        self.metrics.objects.labels(controller=NAME).set(len(nodes))
        for node in nodes:
            name = node["metadata"]["name"]
            start = time.monotonic()
            try:
                await self.reconcile(node, pods.get(name, []), usage)
            except Exception as error:  # one node must never stop the others
                self.metrics.errors.labels(controller=NAME, reason=type(error).__name__).inc()
                log.exception("%s: node %s failed", NAME, name)
            finally:
                self.metrics.reconcile_seconds.labels(controller=NAME).observe(
                    time.monotonic() - start
                )
        return self.period_s

    async def reconcile(
        self,
        node: dict[str, Any],
        pods: list[dict[str, Any]],
        usage: PodUsage,
    ) -> None:
        online = [p for p in pods if not is_batch(p)]
        requests = [cpu_and_memory(p) for p in online]
        requested = _sum(requests)
        used = _sum([usage.of(_key(p), asked) for p, asked in zip(online, requests, strict=True)])
        peak = await self.sample(node, used)
        await self.publish(node, reclaimable(requested, peak, self.settings.rule))
        names = self.settings.names
        # a batch pod already going gives its place back: never asked to go twice
        staying = [p for p in pods if is_batch(p) and not p["metadata"].get("deletionTimestamp")]
        batch = {batch_pod(p, names).name: p for p in staying}
        chosen = evictions(
            requested, used, [batch_pod(p, names) for p in batch.values()], self.settings.rule
        )
        for victim in chosen:
            await self.evict(node, batch[victim.name], requested, used)

    async def sample(self, node: dict[str, Any], used: Resources) -> Resources:
        """The node's peak with ``used`` in it, written back to the Node."""
        meta = node["metadata"]
        before = read_peak(meta.get("annotations") or {})
        after = before.sampled(self.clock(), used, self.settings.window_s)
        if after != before:
            patch = {"metadata": {"annotations": {ANNOTATION: after.text()}}}
            await self.client.patch(Node, meta["name"], patch, patch_type=PatchType.MERGE)
        return after.peak

    async def publish(self, node: dict[str, Any], lent: Resources) -> None:
        """``lent`` in the node's status capacity and allocatable, when it changed."""
        status = node.get("status") or {}
        before = _published(status.get("allocatable") or {}, self.settings)
        if before == lent and _published(status.get("capacity") or {}, self.settings) == lent:
            return
        quantities = self.settings.names.quantities(lent)
        patch = {"status": {"capacity": quantities, "allocatable": quantities}}
        name = node["metadata"]["name"]
        await self.client.patch(Node.Status, name, patch, patch_type=PatchType.MERGE)
        self.metrics.decisions.labels(controller=NAME, rule="publish").inc()
        if material(before, lent, self.settings.change):
            was = "none" if before is None else describe(before)
            message = f"batch resources now {describe(lent)} (was {was})"
            await record(self.client, self.node_event(node, "BatchResourcesChanged", message))

    async def evict(
        self, node: dict[str, Any], pod: dict[str, Any], requested: Resources, used: Resources
    ) -> None:
        meta = pod["metadata"]
        node_name = node["metadata"]["name"]
        why = (
            f"online usage on node {node_name} rose to {describe(used)} of {describe(requested)} "
            f"requested: batch pod {meta['namespace']}/{meta['name']} evicted"
        )
        if not await evict(self.client, pod):
            log.info("%s: eviction of %s/%s refused for now", NAME, meta["namespace"], meta["name"])
            return
        self.metrics.decisions.labels(controller=NAME, rule="evict").inc()
        told = event(
            "Pod",
            meta["name"],
            meta["namespace"],
            "EvictedForOnlineLoad",
            why,
            warning=True,
            component=COMPONENT,
            uid=meta.get("uid"),
        )
        await record(self.client, told)
        await record(self.client, self.node_event(node, "EvictedForOnlineLoad", why, True))

    def node_event(
        self, node: dict[str, Any], reason: str, message: str, warning: bool = False
    ) -> Event:
        meta = node["metadata"]
        return event(
            "Node",
            meta["name"],
            None,
            reason,
            message,
            warning,
            component=COMPONENT,
            uid=meta.get("uid"),
        )


def _published(listed: Mapping[str, str], settings: ColocationSettings) -> Resources | None:
    """What the node lent before (``None``: nothing published yet). The API server writes
    quantities back in canonical form (``2000`` as ``2k``, bytes as ``1Gi``), so they are
    read as quantities."""
    names = settings.names
    if names.cpu not in listed or names.memory not in listed:
        return None
    try:
        cpu, memory = quantity(listed[names.cpu]), quantity(listed[names.memory])
    except QuantityError:  # written by hand wrong: republished, told as new
        return None
    return Resources(cpu_milli=math.floor(cpu), memory_mib=math.floor(memory / MIB))
