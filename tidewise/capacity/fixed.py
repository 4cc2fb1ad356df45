"""Fixed capacity: buy once for what is asked at set-up, then never change (the baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidewise.capacity.provisioning import plan_launches
from tidewise.model import ClusterView, Decision, PurchaseOption


@dataclass(frozen=True)
class FixedCapacity:
    option: PurchaseOption

    @property
    def period_s(self) -> float | None:
        return None

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        offerings = [o for o in view.offerings if o.option is self.option]
        pending = [p.requests for p in view.pending_pods()]
        launches, _ = plan_launches(pending, offerings, view.unavailable_offerings)
        return launches
