"""Spot interruption handling: replace at the notice, drain before the reclaim.

A reclaim notice (2 minutes on AWS, 5 on Alibaba) is time enough to boot a VM. Waiting for
the reclaim to evict the pods, as a plain autoscaler does, turns every interruption into a
start-up outage. So, on the notice (the node is cordoned by then): buy capacity for the
node's pods at once, from any allowed offering except the pool being reclaimed (an
interruption wave hits a pool, not one node); once the pods fit on Ready nodes elsewhere, or
``drain_margin_s`` before the reclaim at the latest, drain the node so the pods move while
there is still time. Which nodes were replaced is remembered, and also read from the view
(``ClusterView.replaced``: what the cluster recorded), so a restart does not buy twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewise.capacity.node_autoscaler import fits_elsewhere
from tidewise.capacity.provisioning import absorb_into_launching, plan_for_pods
from tidewise.model import (
    ClusterView,
    Decision,
    Drain,
    Node,
    NodeState,
    Offering,
    Pod,
    PurchaseOption,
)


@dataclass
class InterruptionHandler:
    options: frozenset[PurchaseOption]
    drain_margin_s: float = 20.0
    period_s: float = 5.0
    _replaced: set[str] = field(default_factory=set, init=False)

    def rests(self, now_s: float) -> bool:
        """On an unchanged cluster with no node replaced (so none noticed: a noticed node
        not yet replaced is replaced at once), there is nothing to do."""
        return not self._replaced

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        noticed = [
            n for n in view.nodes if n.state is NodeState.CORDONED and n.notice_s is not None
        ]
        self._replaced &= {n.name for n in noticed}
        if not noticed:
            return []
        decisions: list[Decision] = []
        pods_by_node: dict[str, list[Pod]] = {}
        for pod in view.pods:
            if pod.node is not None:
                pods_by_node.setdefault(pod.node, []).append(pod)
        for node in noticed:
            pods = pods_by_node.get(node.name, [])
            if node.name not in self._replaced and node.name not in view.replaced:
                self._replaced.add(node.name)
                decisions += self._replacements(view, node, pods)
                continue
            assert node.notice_s is not None
            reclaim = node.notice_s + node.offering.notice_s
            ready = [n for n in view.nodes if n.state is NodeState.READY and n.schedulable]
            if view.time_s >= reclaim - self.drain_margin_s or fits_elsewhere(pods, ready):
                decisions.append(Drain(node=node.name, reason="interruption notice"))
        return decisions

    def _replacements(self, view: ClusterView, node: Node, pods: Sequence[Pod]) -> list[Decision]:
        left = absorb_into_launching(pods, view.nodes)
        pool = (node.offering.instance_type.name, node.offering.zone)
        offerings = [o for o in view.offerings if o.option in self.options and _pool(o) != pool]
        return list(plan_for_pods(left, offerings, view.unavailable_offerings))


def _pool(offering: Offering) -> tuple[str, str]:
    return (offering.instance_type.name, offering.zone)
