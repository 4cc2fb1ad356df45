"""Karpenter's loops as one controller: batching, interruption handling, disruption with its
validation delay and make-before-break replacement (tidewise.capacity.karpenter.controller)."""

from dataclasses import replace

from tests.capacity.views import running, spec, status, view
from tests.factories import CPU4, CPU8, node, offering, pod
from tidewise.capacity.karpenter.controller import Karpenter
from tidewise.model import Drain, Launch, NodeState, PodPhase, PurchaseOption, Resources

ONE = Resources(cpu_milli=1000, memory_mib=2048)
OD4 = offering(CPU4, price=0.20)
OD8 = offering(CPU8, price=0.40)
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)
SPOT4_B = replace(SPOT4, zone="z2", price_per_hour=0.09)
CATALOG = [OD4, OD8, SPOT4, SPOT4_B]
WEB = spec()


def pending(*names: str, created_s: float = 0.0):
    return [replace(pod(ONE, n), created_s=created_s) for n in names]


def seen(t, nodes=(), pods=(), desired=None, unavailable=frozenset()):
    ready = sum(1 for p in pods if p.phase is PodPhase.RUNNING)
    count = desired if desired is not None else len(pods)
    workloads = [status(WEB, count, ready)]
    return replace(view(t, nodes, pods, CATALOG, workloads), unavailable_offerings=unavailable)


def at(name, where=SPOT4, state=NodeState.READY, **extra):
    return replace(node(where.instance_type, name, state), offering=where, ready_s=0.0, **extra)


def test_pending_pods_wait_for_one_idle_second_then_are_launched_together():
    karpenter = Karpenter()
    assert karpenter.decide(seen(0.0, pods=pending("a"))) == []
    # a pod arrives within the idle time: the window stays open
    assert karpenter.decide(seen(0.5, pods=pending("a", "b"))) == []
    assert karpenter.decide(seen(1.0, pods=pending("a", "b"))) == []
    assert karpenter.decide(seen(1.5, pods=pending("a", "b"))) == [Launch(SPOT4)]


def test_the_batch_closes_after_ten_seconds_however_fast_pods_arrive():
    karpenter = Karpenter()
    names = []
    for tick in range(30):
        names.append(f"p{tick}")
        decisions = karpenter.decide(seen(tick * 0.5, pods=pending(*names)))
        if tick * 0.5 < 10.0:
            assert decisions == [], tick
        else:
            assert decisions and all(isinstance(d, Launch) for d in decisions)
            return
    raise AssertionError("the window never closed")


def test_without_batching_pods_are_launched_at_once_and_booting_nodes_are_counted():
    karpenter = Karpenter()
    assert karpenter.step(seen(0.0, pods=pending("a")), batch=False) == [Launch(SPOT4)]
    booting = at("new", state=NodeState.LAUNCHING)
    assert karpenter.step(seen(0.0, [booting], pending("a")), batch=False) == []


def test_an_interruption_notice_drains_the_node_and_avoids_its_pool_for_three_minutes():
    karpenter = Karpenter()
    noticed = at("n", state=NodeState.CORDONED, notice_s=10.0)
    pods = [running("p", "n")]
    decisions = karpenter.decide(seen(10.0, [noticed], pods))
    assert decisions == [Drain("n", "interruption notice")]
    # the evicted pod is pending now: bought from the other pool, not the reclaimed one
    karpenter.decide(seen(11.0, pods=pending("p2")))
    assert karpenter.decide(seen(12.0, pods=pending("p2"))) == [Launch(SPOT4_B)]
    karpenter.decide(seen(200.0, pods=pending("p3")))
    assert karpenter.decide(seen(201.0, pods=pending("p3"))) == [Launch(SPOT4)]


def test_a_failed_launch_keeps_its_offering_out_for_the_provider_s_three_minutes():
    karpenter = Karpenter()
    short = frozenset({SPOT4.key})
    karpenter.decide(seen(0.0, pods=pending("a"), unavailable=short))
    # the twin forgets after 45 s; Karpenter's AWS provider remembers 180 s
    assert karpenter.decide(seen(60.0, pods=pending("a"))) == [Launch(SPOT4_B)]


def test_consolidation_waits_fifteen_seconds_then_acts_only_if_still_valid():
    karpenter = Karpenter()
    busy, idle = at("busy"), at("idle")
    pods = [running("p", "busy")]
    assert karpenter.decide(seen(0.0, [busy, idle], pods)) == []  # command held: validation
    assert karpenter.decide(seen(10.0, [busy, idle], pods)) == []
    assert karpenter.decide(seen(15.0, [busy, idle], pods)) == [Drain("idle", "karpenter: empty")]
    # a command whose node got a pod meanwhile is dropped
    karpenter = Karpenter()
    karpenter.decide(seen(0.0, [busy, idle], pods))
    both = [running("p", "busy"), running("q", "idle")]
    assert karpenter.decide(seen(15.0, [busy, idle], both)) == []


def test_a_replacement_is_launched_then_the_node_is_drained_once_its_pods_fit_elsewhere():
    karpenter = Karpenter()
    dear = at("dear", OD8)
    pods = [running("p1", "dear"), running("p2", "dear")]
    assert karpenter.decide(seen(0.0, [dear], pods)) == []
    assert karpenter.decide(seen(15.0, [dear], pods)) == [Launch(SPOT4)]
    booting = at("cheap", state=NodeState.LAUNCHING)
    assert karpenter.decide(seen(16.0, [dear, booting], pods)) == []
    up = replace(booting, state=NodeState.READY)
    decisions = karpenter.decide(seen(90.0, [dear, up], pods))
    assert decisions == [Drain("dear", "karpenter: single-node replaced")]


def test_a_replacement_that_fails_to_launch_leaves_the_node_alone():
    karpenter = Karpenter()
    dear = at("dear", OD8)
    pods = [running("p1", "dear"), running("p2", "dear")]
    karpenter.decide(seen(0.0, [dear], pods))
    assert karpenter.decide(seen(15.0, [dear], pods)) == [Launch(SPOT4)]
    # the launch failed (the twin marks the pool short): the command is dropped, and the node
    # is a candidate again, replaced from the other pool once validated
    short = frozenset({SPOT4.key})
    assert karpenter.decide(seen(16.0, [dear], pods, unavailable=short)) == []
    assert karpenter.decide(seen(31.0, [dear], pods)) == [Launch(SPOT4_B)]
