"""Reserved capacity for the part of the on-demand bases that never goes away.

A workload's base at its minimum replicas (``rules.base(min_replicas)``) runs every hour of
the year on capacity no cloud reclaims, so its utilisation is 100 % and the commitments
planner's optimum (``plan_commitment``: commit up to the demand exceeded a ``1 - discount``
share of the time) is all of it. Buying it reserved once, at the start, costs the discounted
rate instead of on-demand; everything above the floor (scale-outs, a share-based base) stays
on-demand or spot, where a year's commitment would idle. Reserved nodes are never scaled
down (the node autoscaler skips them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidewise.capacity.provisioning import plan_for_pods
from tidewise.model import (
    GUARANTEED,
    ClusterView,
    Decision,
    Launch,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    WorkloadSpec,
)


@dataclass
class ReservedBase:
    """Buys the floor of every base as reserved nodes at start-up (``period_s`` is None: it
    acts in the bootstrap only)."""

    period_s: float | None = None

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        if any(n.offering.option is PurchaseOption.RESERVED for n in view.nodes):
            return []  # bought in an earlier bootstrap round
        specs = [s.spec for s in view.workloads]
        return floor_launches(specs, view.offerings, view.unavailable_offerings)


def floor_launches(
    workloads: Sequence[WorkloadSpec],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> list[Launch]:
    """The reserved nodes that host every workload's base at its minimum replicas: what to
    commit to (the twin buys them; on a cluster they are the commitments Karpenter is told
    about)."""
    floor = [
        Pod(
            f"{spec.name}-floor-{i}",
            spec.name,
            spec.requests,
            PodPhase.PENDING,
            0.0,
            capacity_types=GUARANTEED,
        )
        for spec in workloads
        for i in range(spec.rules.base(spec.min_replicas))
    ]
    reserved = [o for o in offerings if o.option is PurchaseOption.RESERVED]
    return plan_for_pods(floor, reserved, unavailable) if floor else []
