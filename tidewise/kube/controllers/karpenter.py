"""The Karpenter controller: keeps the NodePools and NodeOverlays of tidewise's capacity policy
current on the cluster, so that Karpenter buys what the twin would.

Why a controller and not ``kubectl apply`` of ``tidewise karpenter render`` once: one input of
the render changes while the cluster runs. A commitment (reserved instances, a savings plan)
discounts a type's on-demand price only while some of its coverage is unused, and Karpenter
cannot count coverage (docs/karpenter.md), so the commitment overlays are rendered again from
the running count (Nodes of the covered type on on-demand capacity) every pass, and dropped
once every covered instance runs. The rest of the render follows the operator's
configuration (the scenario's pools, workloads and catalog), read at start.

A pass, level-triggered like every controller of ``tidewise.kube.api.loop``:

1. list the Nodes and count the on-demand ones per instance type;
2. render the policy with that count (:func:`tidewise.capacity.karpenter.render`, pure);
3. server-side apply each rendered object with the field manager ``tidewise-karpenter``
   (forced: these fields are tidewise's; fields others set, a label or an annotation, stay);
4. delete the objects labelled ``app.kubernetes.io/managed-by: tidewise`` that the render no
   longer holds (a pool removed from the scenario, a commitment whose coverage is used up).
   Deleting a NodePool makes Karpenter drain and give back its nodes, as ``kubectl delete``
   would.

What it did is told where ``kubectl describe`` looks (Events in ``default``, as for nodes:
the objects are cluster-scoped): ``Applied`` when an object is created, ``Updated`` when the
apply changed it (a no-op apply changes no ``resourceVersion`` and tells nothing),
``Deleted`` when it is removed, and ``OverlayNotApplied`` (Warning) once per change of an
overlay Karpenter marked ``ValidationSucceeded=False`` (a conflict or a bad selector; the
object's ``status`` is Karpenter's, so tidewise writes none). State that must outlive a
restart is on the API: the objects and their labels; the in-memory record of warnings told
only keeps one Event per change.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import create_global_resource
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from tidewise.capacity.karpenter import KarpenterPolicy, render
from tidewise.capacity.karpenter.overlays import MANAGED_BY
from tidewise.kube.api.events import event, record
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.controllers import COMPONENT
from tidewise.model import PurchaseOption

log = logging.getLogger(__name__)

NAME = "karpenter"
FIELD_MANAGER = "tidewise-karpenter"
NodePool = create_global_resource("karpenter.sh", "v1", "NodePool", "nodepools")
NodeOverlay = create_global_resource("karpenter.sh", "v1alpha1", "NodeOverlay", "nodeoverlays")
KINDS = {"NodePool": NodePool, "NodeOverlay": NodeOverlay}
VALIDATED = "ValidationSucceeded"


def on_demand_counts(nodes: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Nodes per instance type on on-demand capacity (Karpenter's and the well-known labels):
    what a commitment covers, whoever launched the node. A node already being deleted still
    runs, and is still billed, until it is gone."""
    counts: Counter[str] = Counter()
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if labels.get(CAPACITY_TYPE) == PurchaseOption.ON_DEMAND.value and INSTANCE_TYPE in labels:
            counts[labels[INSTANCE_TYPE]] += 1
    return counts


def key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def stale(
    rendered: Iterable[Mapping[str, Any]], managed: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """(kind, name) of the managed objects the render no longer holds, in a stable order."""
    wanted = {key(o) for o in rendered}
    return sorted(k for k in map(key, managed) if k not in wanted)


def rejection(overlay: Mapping[str, Any]) -> str | None:
    """Karpenter's message when it refused to apply ``overlay`` (``ValidationSucceeded``
    false), else ``None`` (validated, or not looked at yet)."""
    for condition in (overlay.get("status") or {}).get("conditions") or []:
        if condition.get("type") == VALIDATED and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "no message")
    return None


class KarpenterController:
    """Runs as one of the operator's controllers (``tidewise.kube.api.loop.drive``).

    ``policy`` is everything the render reads but the running count, which each pass takes
    from the Nodes (``policy.commitments_in_use`` is replaced)."""

    name = NAME

    def __init__(
        self,
        client: AsyncClient,
        metrics: ControllerMetrics,
        policy: KarpenterPolicy,
        period_s: float = 30.0,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.policy = policy
        self.period_s = period_s
        self._warned: set[tuple[str, str]] = set()  # (overlay, resourceVersion) told

    def forget(self) -> None:
        self._warned.clear()

    def desired(self, nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The render for the cluster as ``nodes`` show it."""
        running = on_demand_counts(nodes)
        return render(dataclasses.replace(self.policy, commitments_in_use=dict(running)))

    async def sync(self) -> float:
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        rendered = self.desired(nodes)
        managed: dict[tuple[str, str], dict[str, Any]] = {}
        for karpenter_kind in KINDS.values():
            async for listed in self.client.list(karpenter_kind, labels=dict(MANAGED_BY)):
                found = listed.to_dict()
                managed[key(found)] = found
        for wanted in rendered:
            await self.apply(wanted, managed.get(key(wanted)))
        gone = stale(rendered, managed.values())
        for kind, name in gone:
            await self.remove(managed[kind, name])
        for found_key, found in managed.items():  # as listed: Karpenter's status of last pass
            if found["kind"] == "NodeOverlay" and found_key not in gone:
                await self.warn_if_rejected(found)
        self.metrics.objects.labels(controller=NAME).set(len(rendered))
        return self.period_s

    async def apply(self, obj: dict[str, Any], before: Mapping[str, Any] | None) -> None:
        """Server-side apply ``obj``; an Event when it made or changed the object."""
        karpenter_kind = KINDS[obj["kind"]]
        name = obj["metadata"]["name"]
        answer = await self.client.patch(
            karpenter_kind,
            name,
            obj,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
        after = answer.to_dict()["metadata"]
        if before is None:
            reason, message = "Applied", f"created from tidewise's capacity policy{why(obj)}"
        elif before["metadata"].get("resourceVersion") != after.get("resourceVersion"):
            reason, message = "Updated", f"changed to tidewise's current render{why(obj)}"
        else:
            return
        self.metrics.decisions.labels(controller=NAME, rule=reason.lower()).inc()
        log.info("%s %s: %s", obj["kind"], name, reason.lower())
        await self.tell(obj, after.get("uid"), reason, message)

    async def remove(self, obj: Mapping[str, Any]) -> None:
        """Delete a managed object the render no longer holds; an Event says why."""
        meta = obj["metadata"]
        karpenter_kind = KINDS[obj["kind"]]
        await self.client.delete(karpenter_kind, meta["name"])
        self.metrics.decisions.labels(controller=NAME, rule="deleted").inc()
        log.info("%s %s: deleted", obj["kind"], meta["name"])
        message = "no longer in tidewise's render (removed from the policy, or, for a "
        message += "commitment, every covered instance runs)"
        await self.tell(obj, meta.get("uid"), "Deleted", message)

    async def warn_if_rejected(self, overlay: Mapping[str, Any]) -> None:
        """One Warning per change of an overlay Karpenter did not apply."""
        problem = rejection(overlay)
        meta = overlay["metadata"]
        told = (meta["name"], str(meta.get("resourceVersion")))
        if problem is None or told in self._warned:
            return
        self._warned.add(told)
        message = f"Karpenter does not apply it: {problem}"
        await self.tell(overlay, meta.get("uid"), "OverlayNotApplied", message, warning=True)

    async def tell(
        self,
        obj: Mapping[str, Any],
        uid: str | None,
        reason: str,
        message: str,
        warning: bool = False,
    ) -> None:
        posted = event(
            obj["kind"],
            obj["metadata"]["name"],
            None,
            reason,
            message,
            warning,
            api_version=obj["apiVersion"],
            component=COMPONENT,
            uid=uid,
        )
        await record(self.client, posted)


def why(obj: Mapping[str, Any]) -> str:
    """The render's own reason for an overlay's number, to append to an Event."""
    reason = ((obj.get("metadata") or {}).get("annotations") or {}).get("tidewise.io/why")
    return f" ({reason})" if reason else ""
