"""The reconciler: what admission alone cannot hold, repaired every pass while the operator
leads.

* A pod admitted while the webhook was down (``failurePolicy: Ignore``) landed wherever the
  scheduler put it: once it is on a node it is labelled with that node's capacity type (a pod
  never changes node, so the label stays true) and marked as observed, not pinned.
* Deletion costs follow ``plan_base``: the pods holding the base last, spot before them,
  on-demand pods beyond the base first.
* A base found short once the workload has all its replicas (an on-demand replica lost
  while its replacement was admitted as spot, or pods admitted without the webhook) is
  repaired by evicting that many spot replicas through the Eviction API (so disruption
  budgets hold): their replacements are admitted again, on-demand first. ``BaseShort``
  (Warning) on the workload says so. On-demand replicas beyond the base (several admitted
  at once) are evicted the same way, their replacements go to spot: ``BaseExceeded``.

Everything is read from the API each pass; nothing is remembered between passes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod

from tidewise.capacity.ondemand_base import plan_base
from tidewise.kube.api.events import event, record
from tidewise.kube.api.eviction import evict
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.resources import has_finished
from tidewise.kube.ondemand.webhook import COMPONENT
from tidewise.kube.ondemand.workloads import (
    DELETION_COST,
    OBSERVED,
    OPT_IN,
    PINNED,
    CapacityLabel,
    Workload,
    controller_of,
    counted,
    read_workload,
)

log = logging.getLogger(__name__)

NAME = "on-demand-base"


class BaseReconciler:
    """One pass over every opted-in pod, grouped by its owner."""

    name = NAME

    def __init__(
        self,
        client: AsyncClient,
        metrics: ControllerMetrics,
        labels: CapacityLabel,
        period_s: float = 5.0,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.labels = labels
        self.period_s = period_s

    def forget(self) -> None:
        """Nothing is kept between passes."""

    async def sync(self) -> float:
        pods = [
            p.to_dict() async for p in self.client.list(Pod, namespace="*", labels={OPT_IN: "true"})
        ]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        owners: dict[tuple[str, str], Mapping[str, Any]] = {}
        for pod in pods:
            owner = controller_of(pod)
            if owner is None or has_finished(pod):
                continue
            key = (pod["metadata"]["namespace"], owner["uid"])
            groups[key].append(pod)
            owners[key] = owner
        self.metrics.objects.labels(controller=NAME).set(len(groups))
        for (namespace, uid), members in groups.items():
            try:
                workload = await read_workload(self.client, namespace, owners[namespace, uid])
                if workload is not None and workload.base_text is not None:
                    await self.reconcile(workload, members)
            except Exception as error:  # one workload must never stop the others
                self.metrics.errors.labels(controller=NAME, reason=type(error).__name__).inc()
                log.exception("%s: %s/%s failed", NAME, namespace, owners[namespace, uid]["name"])
        return self.period_s

    async def reconcile(self, workload: Workload, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            await self.observe(pod)
        plan = plan_base(workload.rules(), workload.replicas, counted(pods))
        by_name = {p["metadata"]["name"]: p for p in pods}
        for name, cost in plan.costs.items():
            annotations = by_name[name]["metadata"].get("annotations") or {}
            if annotations.get(DELETION_COST) != str(int(cost)):
                patch = {"metadata": {"annotations": {DELETION_COST: str(int(cost))}}}
                await self.client.patch(Pod, name, patch, namespace=workload.namespace)
        if not plan.evict:
            return
        short = plan.short > 0
        message = (
            f"{plan.held} of a base of {plan.base} replicas on on-demand: evicting "
            f"{', '.join(plan.evict)} so that their replacements are pinned to "
            f"{'on-demand' if short else 'spot'}"
        )
        await record(self.client, base_event(workload, short, message))
        for name in plan.evict:
            if await evict(self.client, by_name[name]):
                rule = "base-short" if short else "base-exceeded"
                self.metrics.decisions.labels(controller=NAME, rule=rule).inc()

    async def observe(self, pod: dict[str, Any]) -> None:
        """Label a pod admitted without the webhook by its node's capacity type (in place,
        so this pass counts it)."""
        meta = pod["metadata"]
        node = (pod.get("spec") or {}).get("nodeName")
        if PINNED in (meta.get("labels") or {}) or not node:
            return
        found = (await self.client.get(Node, node)).to_dict()
        capacity = self.labels.of_node(found["metadata"].get("labels") or {})
        if capacity is None:
            return
        patch = {
            "metadata": {
                "labels": {PINNED: capacity.value},
                "annotations": {OBSERVED: node},
            }
        }
        await self.client.patch(Pod, meta["name"], patch, namespace=meta["namespace"])
        meta.setdefault("labels", {})[PINNED] = capacity.value
        meta.setdefault("annotations", {})[OBSERVED] = node


def base_event(workload: Workload, short: bool, message: str) -> Any:
    """``BaseShort`` (Warning) or ``BaseExceeded`` on the workload."""
    told = workload.told
    return event(
        told["kind"],
        told["name"],
        workload.namespace,
        "BaseShort" if short else "BaseExceeded",
        message,
        warning=short,
        api_version="apps/v1",
        component=COMPONENT,
        uid=told["uid"],
    )
