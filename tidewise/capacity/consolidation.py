"""Consolidation: replace a node with a cheaper one when the saving is worth the disruption.

Removing nodes whose pods fit elsewhere is the node autoscaler's scale-down; what it cannot do
is swap an expensive node for a cheaper shape or purchase option: the on-demand node bought
while spot was short, the large node a scale-down left a third full, a g5 where a g6 will do.
This is Karpenter's single-node "replace" consolidation, with two differences. The
replacement must cut the hourly price by ``min_saving`` (Karpenter takes any saving; every
move restarts pods, so a few percent is not worth it). And it is make-before-break: the old
node is drained only once its pods fit on Ready nodes, so the service never waits for a boot.
Each drain respects the workloads' disruption budgets and do-not-disrupt; one replacement is
in flight at a time, as in Karpenter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewise.capacity.disruption import DisruptionBudget
from tidewise.capacity.node_autoscaler import fits_elsewhere
from tidewise.capacity.provisioning import PlanMemo, first_fit, plan_cost
from tidewise.model import (
    ClusterView,
    Decision,
    Drain,
    Node,
    NodeState,
    PurchaseOption,
    rests_until,
)


@dataclass(frozen=True, slots=True)
class ConsolidationSettings:
    period_s: float = 30.0
    min_saving: float = 0.2  # of the node's hourly price
    min_age_s: float = 600.0  # a node this young may still be needed for what it was bought
    replace_timeout_s: float = 900.0  # a replacement not usable by then is forgotten


@dataclass
class Consolidator:
    """Buys a cheaper replacement for one node at a time, then drains the node."""

    options: frozenset[PurchaseOption]
    settings: ConsolidationSettings = field(default_factory=ConsolidationSettings)
    _replacing: dict[str, float] = field(default_factory=dict, init=False)  # node -> since
    _plans: PlanMemo = field(default_factory=PlanMemo, init=False)
    _wakes_s: float = field(default=math.inf, init=False)  # see rests

    @property
    def period_s(self) -> float | None:
        return self.settings.period_s

    def rests(self, now_s: float) -> bool:
        """On an unchanged cluster with no replacement in flight, the answer changes only
        when a node grows old enough to be a candidate."""
        return not self._replacing and rests_until(now_s, self._wakes_s)

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        budget = DisruptionBudget.of(view)
        ready = [n for n in view.nodes if n.state is NodeState.READY]
        live = {n.name: n for n in ready}
        self._replacing = {
            name: since
            for name, since in self._replacing.items()
            if name in live and view.time_s - since < self.settings.replace_timeout_s
        }
        for name in self._replacing:
            node = live[name]
            others = [n for n in ready if n.name != name]
            if fits_elsewhere(budget.pods_on(node), others) and budget.take(node):
                del self._replacing[name]
                return [Drain(node=name, reason="consolidation: replaced by a cheaper node")]
        if self._replacing:
            return []
        self._wakes_s = min(
            (
                born + self.settings.min_age_s
                for n in ready
                if view.time_s - (born := n.ready_s or n.launched_s) < self.settings.min_age_s
            ),
            default=math.inf,
        )
        offerings = [o for o in view.offerings if o.option in self.options]
        cheapest = {
            gpu: min(
                (o.price_per_hour for o in offerings if (o.instance_type.gpu_count > 0) == gpu),
                default=float("inf"),
            )
            for gpu in (False, True)
        }
        for node in self._candidates(view, ready, budget, cheapest):
            others = [n for n in ready if n.name != node.name]
            left = first_fit(budget.pods_on(node), others)
            launches = self._plans.plan(left, offerings, view.unavailable_offerings)
            price = node.offering.price_per_hour
            if launches and plan_cost(launches) <= (1 - self.settings.min_saving) * price:
                self._replacing[node.name] = view.time_s
                return launches
        return []

    def _candidates(
        self,
        view: ClusterView,
        ready: list[Node],
        budget: DisruptionBudget,
        cheapest: dict[bool, float],
    ) -> list[Node]:
        """Nodes worth a look, the most money idle first. Reserved capacity is paid anyway,
        serverless nodes move back on their own (``ServerlessBurst``), and a node dearer than
        the cheapest node of its kind by less than the threshold cannot be replaced at a
        saving (any replacement is at least one node)."""
        limit = 1 - self.settings.min_saving
        old = [
            n
            for n in ready
            if n.offering.option in (PurchaseOption.ON_DEMAND, PurchaseOption.SPOT)
            and cheapest[n.capacity.gpu_count > 0] <= limit * n.offering.price_per_hour
            and n.pod_count > 0
            and view.time_s - (n.ready_s or n.launched_s) >= self.settings.min_age_s
            and budget.permits(n)
        ]
        return sorted(old, key=lambda n: -n.offering.price_per_hour * (1 - n.utilisation))
