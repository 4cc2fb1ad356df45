import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import CPU4, CPU8, GPU1, node, offering, pod
from tidewise.capacity import cheapest_offering, plan_launches
from tidewise.capacity.provisioning import (
    absorb_into_launching,
    plan_cost,
    plan_for_pods,
    plan_launches_exact,
    plan_launches_greedy,
    plan_launches_per_shape,
)
from tidewise.model import GUARANTEED, InstanceType, NodeState, PurchaseOption, Resources
from tidewise.placement import fit_on, with_pod

WEB = Resources(cpu_milli=1000, memory_mib=2048)
SHARE = Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=10240)


def test_cheapest_price_per_pod_wins():
    small = offering(CPU4, price=0.20)  # 4 pods -> 0.05 per pod
    large = offering(CPU8, price=0.36)  # 8 pods -> 0.045 per pod
    assert cheapest_offering(WEB, [small, large]).offering is large


def test_equal_price_per_pod_prefers_the_larger_node():
    small = offering(CPU4, price=0.2)
    large = offering(CPU8, price=0.4)
    assert cheapest_offering(WEB, [small, large]).offering is large


def test_unavailable_and_serverless_offerings_are_skipped():
    spot = offering(CPU8, PurchaseOption.SPOT, price=0.1)
    od = offering(CPU4, price=0.2)
    assert cheapest_offering(WEB, [spot, od], frozenset({spot.key})).offering is od


def test_plan_launches_enough_nodes_per_shape():
    launches, left = plan_launches([WEB] * 9 + [SHARE] * 3, [offering(CPU4), offering(GPU1)])
    counts = {launch.offering.instance_type.name: launch.count for launch in launches}
    assert counts == {"cpu4": 3, "gpu1": 2}
    assert left == []


def test_unhostable_pods_are_reported():
    launches, left = plan_launches([SHARE], [offering(CPU4)])
    assert launches == [] and left == [SHARE]


def test_booting_nodes_absorb_pending_pods_first():
    booting = node(CPU4, state=NodeState.LAUNCHING)
    pods = [pod(WEB, f"p{i}") for i in range(5)]
    assert absorb_into_launching(pods, [booting, node(CPU4, "ready")]) == [pods[4]]


def test_pinned_pods_are_neither_absorbed_nor_planned_on_options_they_refuse():
    """An on-demand base pod waits for on-demand capacity even when spot is booting and
    cheaper."""
    booting_spot = node(CPU4, state=NodeState.LAUNCHING, option=PurchaseOption.SPOT)
    base = pod(WEB, "base", capacity_types=GUARANTEED)
    free = pod(WEB, "free")
    assert absorb_into_launching([base, free], [booting_spot]) == [base]
    spot = offering(CPU4, PurchaseOption.SPOT, price=0.3)
    od = offering(CPU4, PurchaseOption.ON_DEMAND, price=1.0)
    launches = plan_for_pods([base, free], [spot, od])
    assert sorted((launch.offering.option, launch.count) for launch in launches) == [
        (PurchaseOption.ON_DEMAND, 1),
        (PurchaseOption.SPOT, 1),
    ]


# --- batch provisioning: exact (MILP) and greedy against the per-shape plan ---

CPU_POD = Resources(cpu_milli=3000, memory_mib=2048)
MEM_POD = Resources(cpu_milli=500, memory_mib=12288)
SMALL_C = InstanceType("small-c", vcpus=4, memory_mib=4096)
SMALL_M = InstanceType("small-m", vcpus=1, memory_mib=16384)
BIG = InstanceType("big", vcpus=4, memory_mib=16384)
GPU4 = InstanceType(
    "gpu4", vcpus=16, memory_mib=65536, gpu_count=4, gpu_model="A10G", gpu_memory_mib=24576
)
WHOLE = Resources(cpu_milli=2000, memory_mib=8192, gpu_count=1)


def _counts(launches):
    return {launch.offering.instance_type.name: launch.count for launch in launches}


def _packs(pending, launches) -> bool:
    """Every pod fits the launched nodes, first-fit, largest first (the per-node check)."""
    nodes = [
        node(launch.offering.instance_type, f"{launch.offering.key}-{i}")
        for launch in launches
        for i in range(launch.count)
    ]
    order = sorted(
        pending, key=lambda r: (r.gpu_count, r.gpu_milli, r.cpu_milli, r.memory_mib), reverse=True
    )
    for requests in order:
        for i, n in enumerate(nodes):
            gpus = fit_on(n, requests, cpu_pods_on_gpu_nodes=False)
            if gpus is not None:
                nodes[i] = with_pod(n, requests, gpus)
                break
        else:
            return False
    return True


def test_shapes_that_share_a_big_node_beat_each_on_its_own_small_node():
    # alone, each shape is cheapest on its small node (0.10 per pod vs 0.15 on big); together
    # one CPU pod and one memory pod fill a big node: 2 x 0.15 instead of 4 x 0.10
    offerings = [
        offering(SMALL_C, price=0.10),
        offering(SMALL_M, price=0.10),
        offering(BIG, price=0.15),
    ]
    pending = [CPU_POD, MEM_POD] * 2
    per_shape, _ = plan_launches_per_shape(pending, offerings)
    assert _counts(per_shape) == {"small-c": 2, "small-m": 2}
    for plan in (plan_launches, plan_launches_exact, plan_launches_greedy):
        launches, left = plan(pending, offerings)
        assert _counts(launches) == {"big": 2} and left == []
        assert plan_cost(launches) == pytest.approx(0.30)


def test_exact_plan_packs_per_node():
    offerings = [
        offering(CPU4, price=0.2),
        offering(CPU8, price=0.36),
        offering(BIG, price=0.15),
        offering(GPU1, price=1.0),
        offering(GPU4, price=3.5),
    ]
    pending = [WEB] * 7 + [CPU_POD] * 3 + [MEM_POD] * 2 + [SHARE] * 5 + [WHOLE] * 2
    launches, left = plan_launches_exact(pending, offerings)
    assert left == [] and _packs(pending, launches)


def test_exact_and_greedy_agree_on_trivial_batches():
    offerings = [offering(CPU4, price=0.2), offering(CPU8, price=0.36), offering(GPU1)]
    for pending in ([WEB], [WEB] * 8, [SHARE] * 2, []):
        exact, _ = plan_launches_exact(pending, offerings)
        greedy, _ = plan_launches_greedy(pending, offerings)
        assert _counts(exact) == _counts(greedy)


def test_unavailable_and_serverless_are_never_planned():
    spot = offering(BIG, PurchaseOption.SPOT, price=0.01)
    serverless = offering(BIG, PurchaseOption.SERVERLESS, price=0.0)
    od = offering(BIG, price=0.15)
    launches, _ = plan_launches([CPU_POD, MEM_POD], [spot, serverless, od], frozenset({spot.key}))
    assert [launch.offering for launch in launches] == [od]


SHAPES = [WEB, CPU_POD, MEM_POD, SHARE, WHOLE, Resources(cpu_milli=250, memory_mib=512)]
TYPES = [CPU4, CPU8, BIG, SMALL_C, SMALL_M, GPU1, GPU4]


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 6), min_size=len(SHAPES), max_size=len(SHAPES)),
    prices=st.lists(st.floats(0.05, 4.0), min_size=len(TYPES), max_size=len(TYPES)),
)
def test_exact_beats_greedy_beats_per_shape(counts, prices):
    offerings = [offering(t, price=p) for t, p in zip(TYPES, prices, strict=True)]
    pending = [s for s, c in zip(SHAPES, counts, strict=True) for _ in range(c)]
    exact, left = plan_launches_exact(pending, offerings)
    greedy, _ = plan_launches_greedy(pending, offerings)
    per_shape, _ = plan_launches_per_shape(pending, offerings)
    assert left == []
    assert _packs(pending, exact) and _packs(pending, greedy)
    assert plan_cost(exact) <= plan_cost(greedy) + 1e-9
    assert plan_cost(greedy) <= plan_cost(per_shape) + 1e-9
