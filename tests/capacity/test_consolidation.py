from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capacity.views import running, spec, status, view
from tests.factories import CPU4, CPU8, node, offering
from tidewise.capacity.consolidation import Consolidator
from tidewise.capacity.disruption import DisruptionBudget
from tidewise.model import CapacityRules, Drain, Launch, NodeState, PodPhase, PurchaseOption

SPOT_OD = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})
OD4 = offering(CPU4, price=0.2)
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)
OD8 = offering(CPU8, price=0.4)


def od_node(name: str, itype=CPU4, ready_s: float = 0.0):
    """An on-demand node at the test catalog's price, Ready since ``ready_s``."""
    price = {CPU4: OD4, CPU8: OD8}[itype]
    return replace(node(itype, name), offering=price, ready_s=ready_s)


def test_an_on_demand_node_is_replaced_by_spot_then_drained_once_the_spot_node_is_up():
    """The on-demand node bought during a spot shortage goes back to spot when spot returns."""
    consolidator = Consolidator(SPOT_OD)
    dear = od_node("dear")
    pods = [running("p1", "dear"), running("p2", "dear")]
    assert consolidator.decide(view(700, [dear], pods, [OD4, SPOT4])) == [Launch(SPOT4, 1)]
    # nothing more while the replacement boots: one replacement at a time, no drain yet
    booting = replace(node(CPU4, "cheap", NodeState.LAUNCHING), offering=SPOT4)
    assert consolidator.decide(view(730, [dear, booting], pods, [OD4, SPOT4])) == []
    up = replace(booting, state=NodeState.READY)
    decisions = consolidator.decide(view(830, [dear, up], pods, [OD4, SPOT4]))
    assert decisions == [Drain("dear", "consolidation: replaced by a cheaper node")]


def test_no_replacement_below_the_saving_threshold_or_for_young_nodes():
    consolidator = Consolidator(SPOT_OD)
    dear = od_node("dear")
    pods = [running("p1", "dear")]
    almost = offering(CPU4, PurchaseOption.SPOT, price=0.17)  # saves 15 % < 20 %
    assert consolidator.decide(view(700, [dear], pods, [OD4, almost])) == []
    young = od_node("young", ready_s=500)
    pods = [running("p1", "young")]
    assert consolidator.decide(view(700, [young], pods, [OD4, SPOT4])) == []


def test_a_half_empty_large_node_becomes_a_small_one():
    consolidator = Consolidator(frozenset({PurchaseOption.ON_DEMAND}))
    big = od_node("big", CPU8)
    pods = [running("p1", "big"), running("p2", "big")]
    assert consolidator.decide(view(700, [big], pods, [OD4, OD8])) == [Launch(OD4, 1)]


def test_do_not_disrupt_and_an_exhausted_budget_block_the_replacement():
    dear = od_node("dear")
    pods = [running("p1", "dear"), running("p2", "dear")]
    for rules, desired, ready in (
        (CapacityRules(do_not_disrupt=True), 2, 2),
        (CapacityRules(max_unavailable=1), 2, 2),  # both pods on the node: two would go
    ):
        workloads = [status(spec(rules=rules), desired, ready)]
        consolidator = Consolidator(SPOT_OD)
        assert consolidator.decide(view(700, [dear], pods, [OD4, SPOT4], workloads)) == []


@settings(max_examples=80, deadline=None)
@given(
    layout=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1)), min_size=1, max_size=12),
    max_unavailable=st.integers(0, 2),
    starting=st.integers(0, 2),
)
def test_consolidation_never_drains_more_than_a_budget_allows(layout, max_unavailable, starting):
    """Two workloads' pods at random on on-demand nodes, spot four times cheaper. Replacements
    come up at once and drained pods do not come back within the test, so every drain, counted
    together, must fit the budgets of the starting state."""
    nodes = [od_node(f"n{i}") for i in range(4)]
    load = [0] * 4
    pods = []
    for k, (where, which) in enumerate(layout):
        if load[where] < 4:  # a CPU4 holds four
            load[where] += 1
            phase = PodPhase.STARTING if k < starting else PodPhase.RUNNING
            pods.append(replace(running(f"p{k}", f"n{where}", ("web", "api")[which]), phase=phase))
    specs = [spec(name, CapacityRules(max_unavailable=max_unavailable)) for name in ("web", "api")]

    def statuses(current):
        return [
            status(
                s,
                sum(p.workload == s.name for p in pods),
                sum(p.workload == s.name and p.phase is PodPhase.RUNNING for p in current),
            )
            for s in specs
        ]

    nodes = [n for n, used in zip(nodes, load, strict=True) if used]
    start = view(0, nodes, pods, [OD4, SPOT4], statuses(pods))
    budget = DisruptionBudget.of(start)
    by_name = {n.name: n for n in start.nodes}
    consolidator = Consolidator(SPOT_OD)
    current = list(pods)
    for step in range(12):
        v = view(700 + 30 * step, nodes, current, [OD4, SPOT4], statuses(current))
        for decision in consolidator.decide(v):
            if isinstance(decision, Launch):
                new = replace(node(CPU4, f"s{step}"), offering=SPOT4, ready_s=0.0)
                nodes.append(new)
            else:
                assert budget.take(by_name[decision.node]), decision
                nodes = [n for n in nodes if n.name != decision.node]
                current = [p for p in current if p.node != decision.node]
