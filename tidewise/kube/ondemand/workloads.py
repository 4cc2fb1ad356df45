"""A pinned workload as the API shows it: its owner (a ReplicaSet, which a Deployment's
annotations are copied to, or a StatefulSet), its base, and its replicas.

Why the owner and not the Deployment: a rollout runs two ReplicaSets at once, and each holds
the base of its own replica count, so the new one starts with on-demand replicas while the
old one keeps its own until it is scaled away (spot first, by deletion cost); counting both
as one would give the new ReplicaSet none. The Deployment controller copies a Deployment's
annotations onto its ReplicaSets (``copyDeploymentAnnotationsToReplicaSet`` in
``pkg/controller/deployment/util``), so the base a user writes on the Deployment is read
from the ReplicaSet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import Pod

from tidewise.capacity.ondemand_base import Replica
from tidewise.kube.api.labels import CAPACITY_TYPE
from tidewise.kube.api.resources import has_finished
from tidewise.kube.api.status import unix_s
from tidewise.model import CapacityRules, PurchaseOption

BASE = "tidewise.io/on-demand-base"
"""The workload's annotation: a count (``"3"``) or a share of its replicas (``"30%"``)."""
OPT_IN = "tidewise.io/on-demand-base-enabled"
"""The pod template's label (``"true"``) that sends its pods through the webhook (its
``objectSelector``; an annotation cannot select) and to the reconciler."""
PINNED = "tidewise.io/capacity-type"
"""The pod's label: the capacity type the webhook pinned it to, or, for a pod admitted while
the webhook was down, the one its node was found to be (then :data:`OBSERVED` says so)."""
OBSERVED = "tidewise.io/capacity-observed"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
OWNERS = ("ReplicaSet", "StatefulSet")
OPTIONS = frozenset(o.value for o in PurchaseOption)


@dataclass(frozen=True)
class CapacityLabel:
    """How nodes say what they are bought as: Karpenter's ``karpenter.sh/capacity-type``
    (``on-demand``, ``reserved``, ``spot``) by default; EKS managed node groups write
    ``eks.amazonaws.com/capacityType`` (``ON_DEMAND``, ``SPOT``). ``spot_required``: the
    replicas beyond the base must run on spot (else they only prefer it, and may fall back
    to on-demand when spot is short)."""

    key: str = CAPACITY_TYPE
    on_demand: tuple[str, ...] = ("on-demand", "reserved")
    spot: tuple[str, ...] = ("spot",)
    spot_required: bool = True

    def of_node(self, labels: Mapping[str, str]) -> PurchaseOption | None:
        value = labels.get(self.key)
        if value in self.on_demand:
            return PurchaseOption.ON_DEMAND
        if value in self.spot:
            return PurchaseOption.SPOT
        return None


@dataclass(frozen=True)
class Workload:
    """The owner of a set of replicas: what to count them against and where Events go
    (the Deployment of a ReplicaSet when it has one)."""

    kind: str
    name: str
    namespace: str
    uid: str
    selector: Mapping[str, str]
    replicas: int
    base_text: str | None
    told: Mapping[str, str]  # kind, name, uid of the object Events are about

    def rules(self) -> CapacityRules:
        """``ValueError`` (what to write) for a base that is neither a count nor a share."""
        if self.base_text is None:
            return CapacityRules()
        try:
            return CapacityRules.of_base(self.base_text)
        except ValueError as error:
            raise ValueError(f"{BASE} on {self.kind} {self.name}: {error}") from None


def controller_of(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod's controller reference, if it is a kind that holds a base."""
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller") and owner.get("kind") in OWNERS:
            return owner
    return None


async def read_workload(
    client: AsyncClient, namespace: str, owner: Mapping[str, Any]
) -> Workload | None:
    """The owner named by a pod's controller reference, read now; ``None`` if it is gone or
    is not the one the reference names (a new object of the same name)."""
    name = owner["name"]
    if owner["kind"] == "StatefulSet":
        got = (await client.get(StatefulSet, name, namespace=namespace)).to_dict()
    else:
        got = (await client.get(ReplicaSet, name, namespace=namespace)).to_dict()
    meta = got["metadata"]
    if meta["uid"] != owner["uid"]:
        return None
    spec = got.get("spec") or {}
    told = {"kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}
    for parent in meta.get("ownerReferences") or []:
        if parent.get("controller") and parent.get("kind") == "Deployment":
            told = {"kind": "Deployment", "name": parent["name"], "uid": parent["uid"]}
    return Workload(
        kind=owner["kind"],
        name=meta["name"],
        namespace=namespace,
        uid=meta["uid"],
        selector=(spec.get("selector") or {}).get("matchLabels") or {},
        replicas=int(spec.get("replicas", 1)),
        base_text=(meta.get("annotations") or {}).get(BASE),
        told=told,
    )


def replica(pod: Mapping[str, Any]) -> Replica:
    """A pod as the base policy counts it: by the capacity type its label records."""
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    pinned = labels.get(PINNED)
    return Replica(
        name=meta["name"],
        capacity=PurchaseOption(pinned) if pinned in OPTIONS else None,
        created=unix_s(meta.get("creationTimestamp")) or 0.0,
        going=meta.get("deletionTimestamp") is not None,
        pinned=OBSERVED not in (meta.get("annotations") or {}),
    )


def owned_by(pod: Mapping[str, Any], uid: str) -> bool:
    owner = controller_of(pod)
    return owner is not None and owner["uid"] == uid


async def replicas_of(client: AsyncClient, workload: Workload) -> list[dict[str, Any]]:
    """The workload's pods that are still alive (finished ones hold nothing), as dicts."""
    pods = client.list(Pod, namespace=workload.namespace, labels=dict(workload.selector))
    found = [pod.to_dict() async for pod in pods]
    return [p for p in found if owned_by(p, workload.uid) and not has_finished(p)]


def counted(pods: Sequence[Mapping[str, Any]]) -> list[Replica]:
    return [replica(p) for p in pods]
