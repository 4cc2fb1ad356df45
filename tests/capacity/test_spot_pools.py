from dataclasses import replace

from tests.factories import CPU4, GPU1, node
from tidewise.capacity.node_autoscaler import NodeAutoscaler, NodeAutoscalerSettings
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import (
    Billing,
    ClusterView,
    Launch,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)

WEB = Resources(cpu_milli=1000, memory_mib=2048)


def spot(zone: str, price: float, rate: float = 0.0, itype=CPU4) -> Offering:
    return Offering(
        itype, zone, PurchaseOption.SPOT, price, rate, 120.0, billing=Billing(1.0, 60.0)
    )


def spot_node(name: str, offering: Offering):
    return replace(node(offering.instance_type, name), offering=offering)


def test_a_pool_holding_half_the_spot_nodes_is_left_out():
    z1, z2, z3 = spot("z1", 0.08), spot("z2", 0.09), spot("z3", 0.10)
    three_one = [spot_node(f"a{i}", z1) for i in range(3)] + [spot_node("b", z2)]
    rules = SpotPoolRules()
    assert [o.zone for o in rules.for_planning([z1, z2, z3], three_one)] == ["z2", "z3"]
    # below four nodes nothing is spread yet
    assert [o.zone for o in rules.for_planning([z1, z2], three_one[:3])] == ["z1", "z2"]
    # two pools at half each: both full, both least loaded, both stay open
    two_two = [*three_one[1:3], spot_node("b", z2), spot_node("c", z2)]
    assert [o.zone for o in rules.for_planning([z1, z2], two_two)] == ["z1", "z2"]
    # GPU nodes count apart from CPU nodes
    gpu = spot("z1", 0.4, itype=GPU1)
    assert rules.for_planning([gpu], three_one) == [gpu]


def test_a_calmer_band_wins_unless_the_rough_pool_is_much_cheaper():
    """<5 % a month (rate ~1.1e-4/h) against >20 % (~4e-4/h): 1.08x against 1.29x."""
    calm, rough = spot("z1", 0.10, 1.1e-4), spot("z2", 0.09, 4e-4)
    planning = SpotPoolRules().for_planning([calm, rough], [])
    assert min(planning, key=lambda o: o.price_per_hour).zone == "z1"
    much_cheaper = spot("z2", 0.08, 4e-4)
    planning = SpotPoolRules().for_planning([calm, much_cheaper], [])
    assert min(planning, key=lambda o: o.price_per_hour).zone == "z2"


def test_the_autoscaler_buys_the_calm_pool_at_its_real_price():
    calm, rough = spot("z1", 0.10, 1.1e-4), spot("z2", 0.09, 4e-4)
    scaler = NodeAutoscaler(
        frozenset({PurchaseOption.SPOT}), NodeAutoscalerSettings(), spot_pools=SpotPoolRules()
    )
    pods = (Pod("p", "web", WEB, PodPhase.PENDING, 0.0),)
    decisions = scaler.decide(ClusterView(0.0, (), pods, (), (calm, rough)))
    assert decisions == [Launch(calm, 1)]


def test_two_short_spot_pools_make_the_plan_fall_back_to_on_demand():
    """A regional shortage: trying the other spot pools one scan at a time would leave the
    pods pending for minutes."""
    z1, z2, z3 = spot("z1", 0.08), spot("z2", 0.09), spot("z3", 0.10)
    od = Offering(CPU4, "z1", PurchaseOption.ON_DEMAND, 0.2, billing=Billing(1.0, 60.0))
    pods = (Pod("p", "web", WEB, PodPhase.PENDING, 0.0),)
    options = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})
    offerings = (z1, z2, z3, od)
    one_short = ClusterView(0.0, (), pods, (), offerings, frozenset({z1.key}))
    assert NodeAutoscaler(options).decide(one_short) == [Launch(z2, 1)]
    two_short = ClusterView(0.0, (), pods, (), offerings, frozenset({z1.key, z2.key}))
    assert NodeAutoscaler(options).decide(two_short) == [Launch(od, 1)]
