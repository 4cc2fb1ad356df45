"""Karpenter's consolidation (``WhenEmptyOrUnderutilized``) and its node disruption budget, as
the twin's ``karpenter`` baseline decides it (``sigs.k8s.io/karpenter`` v1.12.0,
``pkg/controllers/disruption``; docs/karpenter-baseline.md cites each rule).

Each poll tries three methods in order and acts on the first that finds something:

1. **Emptiness**: every candidate without pods is deleted, as many as the budget allows.
2. **Multi-node**: the candidates with pods, cheapest to disrupt first, up to the budget and
   100; a binary search for the longest prefix whose pods fit on the other nodes plus at most
   one new node that is cheaper than the prefix together (a replacement of a type already in
   the prefix must also undercut that node).
3. **Single-node**: the first candidate, cheapest to disrupt first, whose pods fit on the
   other nodes (delete) or on the others plus one cheaper node (replace).

A replacement is bought as spot when the NodePool allows spot; replacing spot nodes with spot
(``SpotToSpotConsolidation``) is an alpha feature gate, off by default, so spot nodes are
only ever deleted. The simulation includes the pending pods, and gives up when a candidate's
pod would land on a node that is still booting. The budget is Karpenter's default
``nodes: 10%``: of the NodePool's initialized nodes, rounded up, less those being disrupted.
A disruption cost orders candidates: one per pod (no deletion cost or priority in the twin)
times the share of the node's lifetime left (``expireAfter``, default 720 h).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tidewise.capacity.disruption import DisruptionBudget
from tidewise.capacity.karpenter.scheduling import (
    KARPENTER_BUYS,
    Catalog,
    Claim,
    cheapest_price,
    launch_offering,
    simulate,
)
from tidewise.model import ClusterView, Node, NodeState, Offering, PurchaseOption


@dataclass(frozen=True, slots=True)
class DisruptionSettings:
    budget_nodes: float = 0.10  # NodePool spec.disruption.budgets default: nodes "10%"
    consolidate_after_s: float = 0.0  # spec.disruption.consolidateAfter default "0s"
    expire_after_s: float = 720 * 3600.0  # spec.template.spec.expireAfter default "720h"
    multi_node_max: int = 100  # candidates a multi-node consolidation considers at most


@dataclass(frozen=True, slots=True)
class Command:
    """Delete ``candidates``, after ``replacement`` (if any) is up."""

    method: str  # "empty", "multi-node", "single-node"
    candidates: tuple[str, ...]
    replacement: Offering | None = None

    @property
    def replaces(self) -> bool:
        return self.replacement is not None


@dataclass(frozen=True)
class Cluster:
    """What one disruption poll reads: the view, the nodes already being disrupted (a command
    in flight), the nodes past ``consolidateAfter`` since their last pod event, and what may
    be bought."""

    view: ClusterView
    marked: frozenset[str]
    settled: frozenset[str]
    catalog: Catalog

    def managed(self) -> list[Node]:
        """The NodePool's initialized nodes: Karpenter's (spot, on-demand), no longer booting."""
        return [
            n
            for n in self.view.nodes
            if n.offering.option in KARPENTER_BUYS and n.state is not NodeState.LAUNCHING
        ]


def allowed_disruptions(cluster: Cluster, settings: DisruptionSettings) -> int:
    """``nodes: 10%`` of the initialized nodes, rounded up, less those not Ready or already
    being disrupted (``BuildDisruptionBudgetMapping``)."""
    nodes = cluster.managed()
    disrupting = sum(1 for n in nodes if n.state is not NodeState.READY or n.name in cluster.marked)
    return max(math.ceil(settings.budget_nodes * len(nodes) - 1e-9) - disrupting, 0)


def candidates(cluster: Cluster, settings: DisruptionSettings) -> list[Node]:
    """Nodes consolidation may take, cheapest to disrupt first: Ready, not being disrupted,
    settled, and whose pods the workloads' disruption budgets (PDBs, do-not-disrupt) let go."""
    budget = DisruptionBudget.of(cluster.view)
    now = cluster.view.time_s

    def cost(node: Node) -> tuple[float, str]:
        age = now - node.launched_s
        left = min(max(1 - age / settings.expire_after_s, 0.0), 1.0)
        return node.pod_count * left, node.name

    found = [
        n
        for n in cluster.managed()
        if n.state is NodeState.READY
        and n.name not in cluster.marked
        and n.name in cluster.settled
        and budget.permits(n)
    ]
    return sorted(found, key=cost)


def consolidate(cluster: Cluster, settings: DisruptionSettings) -> Command | None:
    """The first command of emptiness, multi-node and single-node consolidation, in order."""
    ordered = candidates(cluster, settings)
    allowed = allowed_disruptions(cluster, settings)
    if allowed == 0 or not ordered:
        return None
    empty = [n.name for n in ordered if n.pod_count == 0][:allowed]
    if empty:
        return Command("empty", tuple(empty))
    busy = [n for n in ordered if n.pod_count > 0]
    multi = _multi_node(cluster, busy[: min(allowed, settings.multi_node_max)])
    if multi is not None:
        return multi
    for node in busy:
        command = compute(cluster, [node], "single-node")
        if command is not None:
            return command
    return None


def _multi_node(cluster: Cluster, nodes: Sequence[Node]) -> Command | None:
    """The longest prefix of ``nodes`` (at least two) that consolidates, by binary search
    (``firstNConsolidationOption``)."""
    low, high = 1, len(nodes) - 1
    best = None
    while low <= high:
        mid = (low + high) // 2
        command = compute(cluster, nodes[: mid + 1], "multi-node", same_type_rule=True)
        if command is not None:
            best, low = command, mid + 1
        else:
            high = mid - 1
    return best


def compute(
    cluster: Cluster, nodes: Sequence[Node], method: str, same_type_rule: bool = False
) -> Command | None:
    """Delete ``nodes`` if their pods fit elsewhere; replace them with one node if it is
    cheaper than they are together; else nothing (``computeConsolidation``)."""
    names = {n.name for n in nodes}
    view = cluster.view
    moving = [p for p in view.pods if p.node in names]
    deleting = [p for p in view.pods if p.node in cluster.marked]
    pending = [p for p in view.pods if p.node is None]
    others = [n for n in view.nodes if n.name not in names and n.name not in cluster.marked]
    ready = [n for n in others if n.state is NodeState.READY]
    booting = [n for n in others if n.state is NodeState.LAUNCHING]
    result = simulate([*pending, *deleting, *moving], [*ready, *booting], cluster.catalog)
    moved = {p.name for p in moving}
    if any(p.name in moved for p in result.unplaceable):
        return None
    on_booting = {p.name for n in booting for p in result.placed.get(n.name, [])}
    if moved & on_booting:
        return None  # would rely on a node not yet initialized
    if not result.claims:
        return Command(method, tuple(sorted(names)))
    if len(result.claims) != 1:
        return None
    return _replacement(cluster, nodes, result.claims[0], method, same_type_rule)


def _replacement(
    cluster: Cluster, nodes: Sequence[Node], claim: Claim, method: str, same_type_rule: bool
) -> Command | None:
    price = sum(n.offering.price_per_hour for n in nodes)
    all_spot = all(n.offering.option is PurchaseOption.SPOT for n in nodes)
    if all_spot and PurchaseOption.SPOT in claim.options:
        return None  # SpotToSpotConsolidation is off by default
    catalog = cluster.catalog
    options = claim.options
    ceiling = price
    if same_type_rule:  # filterOutSameInstanceType
        mine = [n for n in nodes if n.offering.instance_type.name in claim.fitting]
        ceiling = min([price, *(n.offering.price_per_hour for n in mine)])
    cheaper = [
        name
        for name in claim.fitting
        if cheapest_price(o for o in catalog.by_type[name] if o.option in options) < ceiling
    ]
    if PurchaseOption.SPOT in options and PurchaseOption.ON_DEMAND in options:
        options = frozenset({PurchaseOption.SPOT})
    offerings = [o for name in cheaper for o in catalog.by_type[name] if o.option in options]
    offering = launch_offering(offerings, catalog.pools)
    if offering is None:
        return None
    return Command(method, tuple(sorted(n.name for n in nodes)), offering)
