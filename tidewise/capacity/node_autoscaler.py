"""A cluster-autoscaler-like node autoscaler: the reactive baseline every later policy must beat.

Defaults are cluster-autoscaler's (kubernetes/autoscaler FAQ): scan every 10 s; a node is
unneeded below 50 % requested (the larger of CPU and memory) and removed after 10 minutes
unneeded; no scale-down within 10 minutes of a scale-up; empty nodes go in bulk (up to 10),
non-empty ones one at a time, only when their pods fit elsewhere and their disruption budgets
allow it; a node still not Ready 15 minutes after launch, or NotReady for 20 minutes after it
failed (``--scale-down-unready-time``), is given back, and what it was for is bought again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tidewise.capacity.disruption import DisruptionBudget
from tidewise.capacity.provisioning import PlanMemo, absorb_into_launching, first_fit
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import (
    ClusterView,
    Decision,
    Drain,
    Node,
    NodeState,
    Offering,
    Pod,
    PurchaseOption,
    rests_until,
)


@dataclass(frozen=True, slots=True)
class NodeAutoscalerSettings:
    period_s: float = 10.0
    utilization_threshold: float = 0.5
    unneeded_s: float = 600.0
    delay_after_add_s: float = 600.0
    max_empty_bulk: int = 10
    max_node_provision_s: float = 900.0  # --max-node-provision-time: then it is given back
    max_not_ready_s: float = 1200.0  # --scale-down-unready-time: a failed node is given back
    spot_short_pools: int = 2  # this many spot pools short at once: no spot in this plan


@dataclass
class NodeAutoscaler:
    """Buys the cheapest fitting offering of ``options`` for unschedulable pods; removes waste.

    Keeps two explicit memories: when each node became unneeded, and the last scale-up.
    """

    options: frozenset[PurchaseOption]
    settings: NodeAutoscalerSettings = field(default_factory=NodeAutoscalerSettings)
    scale_down: bool = True
    spot_pools: SpotPoolRules | None = None
    _unneeded_since: dict[str, float] = field(default_factory=dict, init=False)
    _plans: PlanMemo = field(default_factory=PlanMemo, init=False)
    _last_scale_up_s: float = field(default=float("-inf"), init=False)
    _wakes_s: float = field(default=math.inf, init=False)  # see rests

    @property
    def period_s(self) -> float | None:
        return self.settings.period_s

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        now = view.time_s
        stuck = [
            Drain(node=n.name, reason="never became ready")
            for n in view.nodes
            if n.state is NodeState.LAUNCHING
            and now - n.launched_s > self.settings.max_node_provision_s
        ] + [
            Drain(node=n.name, reason="not ready")
            for n in view.nodes
            if n.failed_s is not None and now - n.failed_s > self.settings.max_not_ready_s
        ]
        if stuck:
            return stuck  # their pods are planned for again on the next scan
        scale_up = self._scale_up(view)
        if scale_up:
            self._last_scale_up_s = now
            return scale_up
        stuck_due = self._stuck_due(view)
        if not self.scale_down:
            self._wakes_s = stuck_due
            return []
        drains, scale_down_due = self._scale_down(view)
        self._wakes_s = min(stuck_due, scale_down_due)
        return drains

    def rests(self, now_s: float) -> bool:
        """On an unchanged cluster the answer changes only when a node overstays its boot or
        its failure, or a node's unneeded time or the pause after a scale-up runs out."""
        return rests_until(now_s, self._wakes_s)

    def _stuck_due(self, view: ClusterView) -> float:
        """When the first node still booting or failed is given back, if nothing changes."""
        return min(
            [
                n.launched_s + self.settings.max_node_provision_s
                for n in view.nodes
                if n.state is NodeState.LAUNCHING
            ]
            + [
                n.failed_s + self.settings.max_not_ready_s
                for n in view.nodes
                if n.failed_s is not None
            ],
            default=math.inf,
        )

    def _offerings(self, view: ClusterView) -> list[Offering]:
        return [o for o in view.offerings if o.option in self.options]

    def _scale_up(self, view: ClusterView) -> Sequence[Decision]:
        pending = view.pending_pods()
        if not pending:
            return []
        left = absorb_into_launching(pending, view.nodes)
        if not left:
            return []  # booting nodes will take them all
        bought = self._offerings(view)
        if self._spot_short(view):
            bought = [o for o in bought if o.option is not PurchaseOption.SPOT]
        if self.spot_pools is None:
            return self._plans.plan(left, bought, view.unavailable_offerings)
        planning = self.spot_pools.for_planning(bought, view.nodes)
        by_key = {o.key: o for o in bought}
        return [
            replace(launch, offering=by_key[launch.offering.key])
            for launch in self._plans.plan(left, planning, view.unavailable_offerings)
        ]

    def _spot_short(self, view: ClusterView) -> bool:
        """A shortage is usually regional: after a few pools failed, trying the others one
        scan at a time leaves pods pending for minutes, so the plan falls back at once
        (consolidation brings the nodes back to spot when spot returns)."""
        short = sum(
            1
            for o in view.offerings
            if o.option is PurchaseOption.SPOT and o.key in view.unavailable_offerings
        )
        return short >= self.settings.spot_short_pools

    def _scale_down(self, view: ClusterView) -> tuple[list[Decision], float]:
        """Empty nodes in bulk, else one node whose pods fit elsewhere; and when the answer
        could next change on the same cluster."""
        now = view.time_s
        ready = [n for n in view.nodes if n.state is NodeState.READY]
        unneeded = {
            n.name
            for n in ready
            if n.offering.option is not PurchaseOption.RESERVED
            and n.utilisation < self.settings.utilization_threshold
        }
        self._unneeded_since = {
            name: self._unneeded_since.get(name, now) for name in sorted(unneeded)
        }
        if now - self._last_scale_up_s < self.settings.delay_after_add_s:
            return [], self._last_scale_up_s + self.settings.delay_after_add_s
        wait = self.settings.unneeded_s
        due = [
            n for n in ready if n.name in unneeded and now - self._unneeded_since[n.name] >= wait
        ]
        due_s = min(
            (since + wait for since in self._unneeded_since.values() if now - since < wait),
            default=math.inf,
        )
        empty = [n for n in due if n.pod_count == 0][: self.settings.max_empty_bulk]
        if empty:
            return [Drain(node=n.name, reason="empty") for n in empty], due_s
        others = [n for n in ready if n.name not in unneeded]
        budget = DisruptionBudget.of(view)
        for node in sorted(due, key=lambda n: n.utilisation):
            if budget.permits(node) and fits_elsewhere(budget.pods_on(node), others):
                return [Drain(node=node.name, reason="underutilized")], due_s
        return [], due_s


def fits_elsewhere(pods: Sequence[Pod], nodes: Sequence[Node]) -> bool:
    """Whether every pod finds room on the other nodes, placed first-fit, largest first."""
    return not first_fit(pods, nodes)
