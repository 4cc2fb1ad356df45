from tests.factories import CPU4, node, offering
from tidewise.capacity import NodeAutoscaler
from tidewise.model import (
    ClusterView,
    Drain,
    Launch,
    NodeState,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)
from tidewise.placement import with_pod

WEB = Resources(cpu_milli=1000, memory_mib=2048)
OD = frozenset({PurchaseOption.ON_DEMAND})


def pod(name, node_name=None, phase=PodPhase.RUNNING):
    return Pod(name, "web", WEB, phase, 0.0, node=node_name)


def view(t, nodes, pods):
    return ClusterView(t, tuple(nodes), tuple(pods), (), (offering(CPU4, price=0.2),))


def test_pending_pods_trigger_one_purchase_not_one_per_tick():
    scaler = NodeAutoscaler(OD)
    pending = [pod(f"p{i}", phase=PodPhase.PENDING) for i in range(6)]
    first = scaler.decide(view(0, [], pending))
    assert first == [Launch(offering(CPU4, price=0.2), 2)]
    booting = [node(CPU4, f"n{i}", NodeState.LAUNCHING) for i in range(2)]
    assert scaler.decide(view(10, booting, pending)) == []


def test_empty_node_removed_after_ten_unneeded_minutes_and_not_before():
    scaler = NodeAutoscaler(OD)
    idle = node(CPU4, "idle")
    assert scaler.decide(view(0, [idle], [])) == []
    assert scaler.decide(view(590, [idle], [])) == []
    assert scaler.decide(view(600, [idle], [])) == [Drain("idle", "empty")]


def test_underused_node_is_drained_only_if_its_pods_fit_elsewhere():
    scaler = NodeAutoscaler(OD)
    lonely = with_pod(node(CPU4, "lonely"), WEB, ())
    busy = node(CPU4, "busy")
    for _ in range(3):
        busy = with_pod(busy, WEB, ())
    pods = [pod("a", "lonely"), *(pod(f"b{i}", "busy") for i in range(3))]
    scaler.decide(view(0, [lonely, busy], pods))
    assert scaler.decide(view(600, [lonely, busy], pods)) == [Drain("lonely", "underutilized")]
    full = busy
    full = with_pod(full, WEB, ())
    scaler2 = NodeAutoscaler(OD)
    scaler2.decide(view(0, [lonely, full], pods))
    assert scaler2.decide(view(600, [lonely, full], pods)) == []


def test_no_scale_down_right_after_a_scale_up():
    scaler = NodeAutoscaler(OD)
    idle = node(CPU4, "idle")
    scaler.decide(view(0, [idle], [pod("p", phase=PodPhase.PENDING)]))
    assert scaler.decide(view(610, [idle], [])) == []
    assert scaler.decide(view(1210, [idle], [])) == [Drain("idle", "empty")]


def test_reserved_nodes_are_never_scaled_down():
    scaler = NodeAutoscaler(OD)
    ri = node(CPU4, "ri", option=PurchaseOption.RESERVED)
    scaler.decide(view(0, [ri], []))
    assert scaler.decide(view(3600, [ri], [])) == []


def test_a_node_that_never_becomes_ready_is_given_back_after_fifteen_minutes():
    scaler = NodeAutoscaler(OD)
    pending = [pod(f"p{i}", phase=PodPhase.PENDING) for i in range(3)]
    stuck = node(CPU4, "stuck", NodeState.LAUNCHING)  # launched at t=0
    assert scaler.decide(view(900, [stuck], pending)) == []  # still waiting on it
    assert scaler.decide(view(901, [stuck], pending)) == [
        Drain(node="stuck", reason="never became ready")
    ]
    # once it is gone its pods are bought for again
    assert scaler.decide(view(911, [], pending)) == [Launch(offering(CPU4, price=0.2), 1)]
