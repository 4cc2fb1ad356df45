"""NodeOverlays: how tidewise tells Karpenter what a machine really costs and can hold.

Karpenter (``karpenter.sh/v1alpha1`` NodeOverlay, feature gate ``NodeOverlay``) applies an
overlay's ``priceAdjustment`` to every offering its ``requirements`` select, and adds its
``capacity`` (extended resources only) to the instance types they select, before it simulates
scheduling (karpenter.sh/docs/concepts/nodeoverlays). Per offering only one price overlay
applies: the one of highest weight, and two of equal weight that select the same offering
conflict and the later is not applied (``pkg/controllers/nodeoverlay/store.go`` in v1.12.0).
So every price overlay rendered here selects offerings no other one selects: spot risk
overlays split the spot offerings by surcharge, commitment overlays select on-demand ones,
and capacity overlays carry no price.

* **Spot risk.** The twin weighs a spot price by ``1 + interruptions/h x band_weight_h``
  (:class:`~tidewise.capacity.spot_pools.SpotPoolRules`); the same factor becomes a
  percentage ``priceAdjustment`` on the pool's spot offerings, so Karpenter ranks spot pools
  by price x risk as the twin does.
* **Commitments.** A reserved instance or an EC2 Instance savings plan bills covered
  on-demand usage at a discount; while some coverage is unused, the covered type's on-demand
  offerings get that discount as a negative percentage, so Karpenter prefers them. Once
  every covered instance runs, the overlay is left out (the price is list price again).
* **GPU shares.** GPU-share pods ask for ``aliyun.com/gpu-mem`` (GiB), ``nvidia.com/gpumem``
  (MiB) or ``nvidia.com/gpucores`` (percent of a GPU), which a device plugin advertises only
  once the node runs; the overlay tells Karpenter in advance what each GPU type will offer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidewise.capacity.karpenter.instance_types import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    ZONE,
    requirement,
)
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import InstanceType, Offering, PurchaseOption

OVERLAY_API = "karpenter.sh/v1alpha1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "tidewise"}
SHARE_RESOURCES = (
    "aliyun.com/gpu-mem",
    "aliyun.com/gpu-count",
    "nvidia.com/gpumem",
    "nvidia.com/gpucores",
)
"""Extended resources of the GPU-share device plugins users run (DESIGN.md §3): gpushare's
memory in GiB and GPU count, HAMi's memory in MiB and cores in percent of one GPU."""
PERCENT_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Commitment:
    """``count`` instances of ``instance_type`` paid for ahead at ``discount`` off on-demand
    (a reserved instance, or an EC2 Instance savings plan sized to them)."""

    instance_type: str
    count: int
    discount: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"commitment count must be >= 1, got {self.count}")
        if not 0 < self.discount < 1:
            raise ValueError(f"commitment discount must be in (0, 1), got {self.discount}")


def percent(fraction: float) -> str:
    """A fraction as the signed percentage Karpenter's schema accepts (``"+12.5%"``)."""
    text = f"{abs(fraction) * 100:.{PERCENT_DIGITS}f}".rstrip("0").rstrip(".")
    return f"{'-' if fraction < 0 else '+'}{text}%"


def node_overlay(
    name: str, requirements: list[dict[str, Any]], annotations: Mapping[str, str], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": OVERLAY_API,
        "kind": "NodeOverlay",
        "metadata": {"name": name, "labels": dict(MANAGED_BY), "annotations": dict(annotations)},
        "spec": {"requirements": requirements, **spec},
    }


def spot_risk_overlays(offerings: Iterable[Offering], rules: SpotPoolRules) -> list[dict[str, Any]]:
    """One overlay per distinct spot surcharge, selecting the spot offerings that carry it.

    Offerings are grouped by surcharge and then by the zones where a type carries it, so a
    type whose risk differs by zone is still priced per zone, and no offering is selected
    twice. A surcharge of zero needs no overlay.
    """
    surcharge: dict[tuple[str, str], str] = {}
    for offering in offerings:
        if offering.option is PurchaseOption.SPOT:
            extra = rules.surcharge(offering)
            if round(extra * 100, PERCENT_DIGITS) > 0:
                surcharge[offering.instance_type.name, offering.zone] = percent(extra)
    zones_of: dict[tuple[str, str], set[str]] = {}
    for (name, zone), adjustment in surcharge.items():
        zones_of.setdefault((adjustment, name), set()).add(zone)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (adjustment, name), zones in zones_of.items():
        groups.setdefault((adjustment, tuple(sorted(zones))), []).append(name)
    ordered = sorted(groups.items(), key=lambda g: (float(g[0][0][:-1]), g[0][1]))
    return [
        node_overlay(
            f"tidewise-spot-risk-{i}",
            [
                requirement(CAPACITY_TYPE, PurchaseOption.SPOT.value),
                requirement(INSTANCE_TYPE, *sorted(names)),
                requirement(ZONE, *zones),
            ],
            {
                "tidewise.io/why": "spot price x (1 + interruptions per hour x "
                f"{rules.band_weight_h:g} h), the twin's weighting of spot pools"
            },
            priceAdjustment=adjustment,
        )
        for i, ((adjustment, zones), names) in enumerate(ordered, start=1)
    ]


def commitment_overlays(
    commitments: Sequence[Commitment], in_use: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The on-demand discount of each commitment some of whose instances are not running.

    ``in_use``: how many covered instances of each type run now. Commitments of one type are
    summed; their discounts must agree, since one offering takes one price adjustment.
    """
    by_type: dict[str, list[Commitment]] = {}
    for commitment in commitments:
        by_type.setdefault(commitment.instance_type, []).append(commitment)
    overlays = []
    for name in sorted(by_type):
        discounts = {c.discount for c in by_type[name]}
        if len(discounts) > 1:
            raise ValueError(f"commitments on {name} at different discounts {sorted(discounts)}")
        covered = sum(c.count for c in by_type[name])
        if in_use.get(name, 0) >= covered:
            continue
        overlays.append(
            node_overlay(
                f"tidewise-commitment-{name}",
                [
                    requirement(CAPACITY_TYPE, PurchaseOption.ON_DEMAND.value),
                    requirement(INSTANCE_TYPE, name),
                ],
                {"tidewise.io/why": f"{covered} committed, {in_use.get(name, 0)} in use"},
                priceAdjustment=percent(-discounts.pop()),
            )
        )
    return overlays


def gpu_share_capacity(instance_type: InstanceType) -> dict[str, str]:
    """What the GPU-share device plugins advertise on a node of this type: the memory of
    all its GPUs (GiB for gpushare, MiB for HAMi), its GPU count, 100 cores per GPU."""
    gpus, per_gpu_mib = instance_type.gpu_count, instance_type.gpu_memory_mib
    capacity = {"aliyun.com/gpu-count": str(gpus), "nvidia.com/gpucores": str(100 * gpus)}
    if per_gpu_mib:
        capacity["aliyun.com/gpu-mem"] = str(gpus * per_gpu_mib // 1024)
        capacity["nvidia.com/gpumem"] = str(gpus * per_gpu_mib)
    return capacity


def gpu_share_overlays(instance_types: Iterable[InstanceType]) -> list[dict[str, Any]]:
    """One capacity overlay per GPU instance type (capacity differs by type)."""
    return [
        node_overlay(
            f"tidewise-gpu-share-{t.name}",
            [requirement(INSTANCE_TYPE, t.name)],
            {"tidewise.io/why": f"{t.gpu_count} x {t.gpu_model or 'GPU'}, shared by pods"},
            capacity=gpu_share_capacity(t),
        )
        for t in sorted(instance_types, key=lambda t: t.name)
        if t.gpu_count
    ]
