from tests.capacity.views import running, spec, status, view
from tests.factories import CPU4, node
from tidewise.capacity.disruption import DisruptionBudget
from tidewise.model import CapacityRules, Pod, PodPhase

PDB1 = CapacityRules(max_unavailable=1)


def test_a_pdb_allows_evictions_while_healthy_pods_stay_at_desired_minus_max_unavailable():
    nodes = [node(CPU4, "a"), node(CPU4, "b")]
    pods = [running("p1", "a"), running("p2", "a"), running("p3", "b")]
    # desired 3, ready 3, maxUnavailable 1: one healthy pod may go
    budget = DisruptionBudget.of(view(0, nodes, pods, [], [status(spec(rules=PDB1), 3, 3)]))
    a, b = nodes
    assert not budget.permits(a)  # two pods
    assert budget.take(b)  # one pod: allowed, and it uses the allowance up
    assert not budget.take(b)


def test_pods_that_are_not_ready_cost_no_allowance():
    nodes = [node(CPU4, "a")]
    starting = Pod("p1", "web", running("x", "a").requests, PodPhase.STARTING, 0.0, "a")
    # one of two replicas is still starting: already one unavailable, nothing more may go...
    budget = DisruptionBudget.of(view(0, nodes, [starting], [], [status(spec(rules=PDB1), 2, 1)]))
    # ...but the node holds only the starting pod, so draining it breaks nothing
    assert budget.permits(nodes[0])


def test_no_pdb_means_no_limit_and_do_not_disrupt_means_never():
    nodes = [node(CPU4, "a")]
    pods = [running("p1", "a")]
    free = DisruptionBudget.of(view(0, nodes, pods, [], [status(spec(), 1, 1)]))
    assert free.permits(nodes[0])
    pinned = spec(rules=CapacityRules(do_not_disrupt=True))
    held = DisruptionBudget.of(view(0, nodes, pods, [], [status(pinned, 1, 1)]))
    assert not held.permits(nodes[0])
