"""Karpenter's consolidation rules and node disruption budget
(tidewise.capacity.karpenter.consolidation)."""

from dataclasses import replace

from tests.capacity.views import running, spec, status, view
from tests.factories import CPU4, CPU8, node, offering
from tidewise.capacity.karpenter.consolidation import (
    Cluster,
    Command,
    DisruptionSettings,
    allowed_disruptions,
    compute,
    consolidate,
)
from tidewise.capacity.karpenter.scheduling import Catalog
from tidewise.model import CapacityRules, NodeState, PurchaseOption

OD4 = offering(CPU4, price=0.20)
OD8 = offering(CPU8, price=0.40)
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)
SPOT8 = offering(CPU8, PurchaseOption.SPOT, price=0.16)
CATALOG = [OD4, OD8, SPOT4, SPOT8]
EVERYONE = DisruptionSettings(budget_nodes=1.0)  # budgets out of the way


def at(name: str, where=SPOT4, state=NodeState.READY):
    return replace(node(where.instance_type, name, state), offering=where, ready_s=0.0)


def cluster(nodes, pods, marked=(), max_unavailable=None, offerings=CATALOG) -> Cluster:
    web = spec(rules=CapacityRules(max_unavailable=max_unavailable))
    ready = sum(1 for p in pods if p.node is not None)
    seen = view(100.0, nodes, pods, offerings, [status(web, ready, ready)])
    names = frozenset(n.name for n in seen.nodes)
    return Cluster(seen, frozenset(marked), names, Catalog.of(offerings))


def test_the_budget_is_ten_percent_of_initialized_nodes_rounded_up_less_those_disrupting():
    nodes = [at(f"n{i}") for i in range(25)]
    assert allowed_disruptions(cluster(nodes, []), DisruptionSettings()) == 3
    assert allowed_disruptions(cluster(nodes[:5], []), DisruptionSettings()) == 1
    # booting nodes do not count; a NotReady or marked one uses the budget up
    booting = [at(f"b{i}", state=NodeState.LAUNCHING) for i in range(20)]
    assert allowed_disruptions(cluster(nodes[:5] + booting, []), DisruptionSettings()) == 1
    failed = replace(nodes[0], state=NodeState.NOT_READY)
    assert allowed_disruptions(cluster([failed, *nodes[1:5]], []), DisruptionSettings()) == 0
    assert allowed_disruptions(cluster(nodes[:5], [], marked={"n1"}), DisruptionSettings()) == 0


def test_empty_nodes_go_first_as_many_as_the_budget_allows():
    nodes = [at(f"n{i}") for i in range(12)]
    pods = [running("p", "n0")]
    command = consolidate(cluster(nodes, pods), DisruptionSettings())
    assert command == Command("empty", ("n1", "n10"))  # ceil(10 % of 12) = 2, by cost, name


def test_a_spot_node_whose_pods_fit_elsewhere_is_deleted_never_replaced_by_spot():
    a, b = at("a"), at("b")
    pods = [running("p1", "a"), running("p2", "b"), running("p3", "b")]
    # merging both into one new spot node would be spot-to-spot: multi-node finds nothing
    assert consolidate(cluster([a, b], pods), EVERYONE) == Command("single-node", ("a",))
    three = [running(f"q{i}", "a") for i in range(3)] + [running("r", "b")]
    assert consolidate(cluster([a, b], three), EVERYONE) == Command("single-node", ("b",))
    # spot-to-spot is off: a lone spot node whose pods fit nowhere else stays
    alone = [running(f"q{i}", "a") for i in range(3)]
    assert consolidate(cluster([a], alone), EVERYONE) is None


def test_an_on_demand_node_is_replaced_by_a_cheaper_spot_node():
    dear = at("dear", OD8)
    pods = [running("p1", "dear"), running("p2", "dear")]
    command = consolidate(cluster([dear], pods), EVERYONE)
    assert command == Command("single-node", ("dear",), SPOT4)


def test_no_replacement_unless_it_is_cheaper():
    cheap = at("od", OD4)
    pods = [running("p1", "od"), running("p2", "od")]
    # without spot, the only node that fits is the same price: nothing to do
    assert consolidate(cluster([cheap], pods, offerings=[OD4, OD8]), EVERYONE) is None


def test_multi_node_merges_the_longest_prefix_into_one_cheaper_node():
    """Three on-demand cpu4 nodes (0.60 together) with one pod each: one spot cpu4 (0.08)
    takes all three; the budget lets multi-node see them all."""
    nodes = [at(f"n{i}", OD4) for i in range(3)]
    pods = [running(f"p{i}", f"n{i}") for i in range(3)]
    command = consolidate(cluster(nodes, pods), EVERYONE)
    assert command == Command("multi-node", ("n0", "n1", "n2"), SPOT4)
    # with the default 10 % budget only one node may go: a single-node replacement
    single = consolidate(cluster(nodes, pods), DisruptionSettings())
    assert single == Command("single-node", ("n0",))  # its pod fits on n1


def test_a_replacement_of_a_type_already_among_the_candidates_must_undercut_it():
    """cpu4 (0.20) and cpu8 (0.40) on-demand, 6 pods: the replacement must be a cpu8. It is
    cheaper than both together (0.60), but not than the cpu8 it would replace, so the
    multi-node rule refuses it (filterOutSameInstanceType); spot cpu8 (0.16) passes."""
    nodes = [at("a", OD4), at("b", OD8)]
    pods = [running(f"p{i}", "a") for i in range(3)] + [running(f"q{i}", "b") for i in range(3)]
    on_demand = cluster(nodes, pods, offerings=[OD4, OD8])
    assert compute(on_demand, on_demand.view.nodes, "multi-node") == Command(
        "multi-node", ("a", "b"), OD8
    )
    assert compute(on_demand, on_demand.view.nodes, "multi-node", same_type_rule=True) is None
    both = cluster(nodes, pods)
    assert compute(both, both.view.nodes, "multi-node", same_type_rule=True) == Command(
        "multi-node", ("a", "b"), SPOT8
    )


def test_no_consolidation_that_relies_on_a_booting_node():
    a = at("a")
    booting = at("b", state=NodeState.LAUNCHING)
    assert consolidate(cluster([a, booting], [running("p", "a")]), EVERYONE) is None


def test_a_node_whose_pods_the_disruption_budget_protects_is_no_candidate():
    a, b = at("a"), at("b")
    pods = [running("p1", "a"), running("p2", "a")]
    found = consolidate(cluster([a, b], pods, max_unavailable=1), EVERYONE)
    assert found == Command("empty", ("b",))  # a's two pods may not go at once
    assert consolidate(cluster([a], pods, max_unavailable=1), EVERYONE) is None
