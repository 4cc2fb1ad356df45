from tests.factories import CPU4, CPU8, GPU1, node, offering
from tidewise.capacity import cheapest_offering, plan_launches
from tidewise.capacity.provisioning import absorb_into_launching
from tidewise.model import NodeState, PurchaseOption, Resources

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
    assert absorb_into_launching([WEB] * 5, [booting, node(CPU4, "ready")]) == [WEB]
