"""The mutating admission webhook: every new replica of an opted-in workload is pinned to
on-demand (a required node affinity) or spot, labelled with what it was given, and given
the deletion cost that makes a scale-in take spot first.

Why at admission: a pod's node affinity cannot change once the pod exists, so the one
moment to choose its capacity type is its CREATE. The choice is
``tidewise.capacity.ondemand_base.next_capacity`` over the workload's replicas read from the
API now (their ``tidewise.io/capacity-type`` labels), so any number of webhook replicas and
restarts agree. The webhook never refuses a pod: an error reading the API admits it as it
came (the reconciler labels it by the node it lands on and repairs the base), as does the
``failurePolicy: Ignore`` of the shipped configuration when the webhook cannot be reached.

The patch is JSON Patch (the only type admission allows); each changed map is written whole
with ``add``, which replaces a member that exists (RFC 6902 4.1), so one patch fits a pod
with or without labels, annotations or an affinity.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient

from tidewise.capacity.ondemand_base import DeletionCost, next_capacity
from tidewise.kube.api.admission import admission_reply
from tidewise.kube.api.events import event, record
from tidewise.kube.ondemand.workloads import (
    DELETION_COST,
    PINNED,
    CapacityLabel,
    Workload,
    controller_of,
    counted,
    read_workload,
    replicas_of,
)
from tidewise.model import PurchaseOption

log = logging.getLogger(__name__)

COMPONENT = "tidewise-on-demand-base"
SPOT_WEIGHT = 100  # the largest preference weight Kubernetes allows


@dataclass(frozen=True)
class Pinning:
    """What admission gives one pod: its capacity type, and why (for the Event)."""

    capacity: PurchaseOption
    held: int  # live replicas already on guaranteed capacity
    base: int


def pinned_affinity(
    affinity: Mapping[str, Any] | None, labels: CapacityLabel, capacity: PurchaseOption
) -> dict[str, Any]:
    """The pod's affinity with the capacity type added: on-demand as a requirement in every
    required term (terms are ORed, so each must carry it); spot as a requirement too, or as
    the strongest preference when ``labels.spot_required`` is off."""
    merged = copy.deepcopy(dict(affinity or {}))
    node = merged.setdefault("nodeAffinity", {})
    on_demand = capacity is not PurchaseOption.SPOT
    values = labels.on_demand if on_demand else labels.spot
    expression = {"key": labels.key, "operator": "In", "values": list(values)}
    if on_demand or labels.spot_required:
        required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.get("nodeSelectorTerms") or [{}]
        required["nodeSelectorTerms"] = [
            {**term, "matchExpressions": [*(term.get("matchExpressions") or []), expression]}
            for term in terms
        ]
    else:
        preferred = node.setdefault("preferredDuringSchedulingIgnoredDuringExecution", [])
        preferred.append({"weight": SPOT_WEIGHT, "preference": {"matchExpressions": [expression]}})
    return merged


def patch_for(
    pod: Mapping[str, Any], labels: CapacityLabel, capacity: PurchaseOption
) -> list[dict[str, Any]]:
    """The JSON Patch that pins ``pod`` to ``capacity``."""
    meta = pod.get("metadata") or {}
    cost = DeletionCost.SPOT if capacity is PurchaseOption.SPOT else DeletionCost.BASE
    affinity = (pod.get("spec") or {}).get("affinity")
    return [
        {
            "op": "add",
            "path": "/metadata/labels",
            "value": {**(meta.get("labels") or {}), PINNED: capacity.value},
        },
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {**(meta.get("annotations") or {}), DELETION_COST: str(int(cost))},
        },
        {
            "op": "add",
            "path": "/spec/affinity",
            "value": pinned_affinity(affinity, labels, capacity),
        },
    ]


def reply(uid: str, patch: list[dict[str, Any]] | None, warning: str | None = None) -> dict:
    """An AdmissionReview answer that always admits."""
    return admission_reply(uid, patch, warning)


async def decide(
    client: AsyncClient, namespace: str, owner: Mapping[str, Any]
) -> tuple[Workload | None, Pinning | None]:
    """The workload and the pinning of its next replica (``None``: the workload asks no
    base). ``ValueError`` for a base written wrong."""
    workload = await read_workload(client, namespace, owner)
    if workload is None or workload.base_text is None:
        return workload, None
    rules = workload.rules()
    replicas = counted(await replicas_of(client, workload))
    capacity = next_capacity(rules, workload.replicas, replicas)
    held = sum(1 for r in replicas if r.guaranteed and not r.going)
    return workload, Pinning(capacity, held, rules.base(workload.replicas))


async def review(client: AsyncClient, labels: CapacityLabel, body: Mapping[str, Any]) -> dict:
    """Answer one AdmissionReview of a pod CREATE."""
    request = body.get("request") or {}
    uid = request.get("uid", "")
    pod = request.get("object") or {}
    namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace")
    owner = controller_of(pod)
    if request.get("operation") != "CREATE" or owner is None or not namespace:
        return reply(uid, None)
    try:
        workload, pinning = await decide(client, namespace, owner)
    except ValueError as error:
        return reply(uid, None, str(error))
    except Exception as error:  # the API unreachable: admit; the reconciler repairs
        log.warning("on-demand base: %s %s not read: %s", owner["kind"], owner["name"], error)
        return reply(uid, None)
    if workload is None or pinning is None:
        return reply(uid, None)
    if pinning.capacity is not PurchaseOption.SPOT and not request.get("dryRun"):
        await record(client, pinned_event(workload, pinning))
    return reply(uid, patch_for(pod, labels, pinning.capacity))


def pinned_event(workload: Workload, pinning: Pinning) -> Any:
    told = workload.told
    message = (
        f"a new replica of {workload.kind} {workload.name} pinned to on-demand "
        f"({pinning.held + 1} of a base of {pinning.base})"
    )
    return event(
        told["kind"],
        told["name"],
        workload.namespace,
        "PinnedOnDemand",
        message,
        api_version="apps/v1",
        component=COMPONENT,
        uid=told["uid"],
    )
