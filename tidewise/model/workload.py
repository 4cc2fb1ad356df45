"""Services as the policies see them: a spec and, each tick, an observed status."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidewise.model.offering import PurchaseOption
from tidewise.model.resources import Resources

GUARANTEED = frozenset({PurchaseOption.ON_DEMAND, PurchaseOption.RESERVED})
"""Capacity no cloud takes back: what an on-demand base may run on."""


@dataclass(frozen=True, slots=True)
class CapacityRules:
    """What the owner of a service guarantees it, whatever the capacity layer saves.

    ``on_demand_base`` / ``on_demand_base_pct``: that many replicas (the larger of the count
    and the share of the current replicas, rounded up) run on capacity no cloud reclaims, as
    a Karpenter ``karpenter.sh/capacity-type`` node selector would pin them; the rest may go
    to spot. ``max_unavailable`` is a PodDisruptionBudget: voluntary disruptions (consolidation,
    moving back from serverless) never leave more than that many replicas short of desired.
    ``do_not_disrupt`` is Karpenter's ``karpenter.sh/do-not-disrupt``: no voluntary disruption
    of its nodes at all. Interruptions and failures are not voluntary and ignore both.
    """

    on_demand_base: int = 0
    on_demand_base_pct: float = 0.0
    max_unavailable: int | None = None
    do_not_disrupt: bool = False

    def base(self, replicas: int) -> int:
        share = math.ceil(self.on_demand_base_pct * replicas - 1e-9)
        return min(replicas, max(self.on_demand_base, share))

    @classmethod
    def of_base(cls, text: str) -> CapacityRules:
        """The rules of an on-demand base written as a count (``"3"``) or a share of the
        replicas (``"30%"``): how a scenario and a workload's ``tidewise.io/on-demand-base``
        annotation both say it. ``ValueError`` says what to write."""
        text = text.strip()
        try:
            if text.endswith("%"):
                share = float(text[:-1])
                if 0 <= share <= 100:
                    return cls(on_demand_base_pct=share / 100)
            elif int(text) >= 0:
                return cls(on_demand_base=int(text))
        except ValueError:
            pass
        raise ValueError("give a count >= 0 (e.g. 2) or a share of the replicas (e.g. '25%')")


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A replicated service whose replicas each serve up to ``rps_per_replica`` requests/s."""

    name: str
    requests: Resources
    rps_per_replica: float
    startup_s: float
    min_replicas: int
    max_replicas: int
    target_utilization: float
    rules: CapacityRules = CapacityRules()
    hpa_floor: bool = False
    """Under a policy that sizes replicas to a service level, keep Kubernetes' HPA at
    ``target_utilization`` as a floor (the owner's choice; off by default)."""
    overload_risk: float | None = None
    """The chance per minute that the load outgrows the Ready replicas which a policy sizing
    to a service level accepts for this workload (``None``: the policy's default)."""


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    """What a metrics pipeline reports for one service at one instant.

    ``demand_rps`` is the offered load; ``utilization`` is load over the capacity of the ready
    replicas (what an HPA sees as CPU utilisation of a CPU-bound service).
    """

    spec: WorkloadSpec
    desired: int
    ready: int
    starting: int
    pending: int
    demand_rps: float

    @property
    def utilization(self) -> float | None:
        if self.ready == 0:
            return None
        return self.demand_rps / (self.ready * self.spec.rps_per_replica)
