from dataclasses import replace

from tests.capacity.views import spec, status, view
from tests.factories import CPU4, node, offering
from tidewise.capacity.reserved_base import ReservedBase
from tidewise.model import CapacityRules, Launch, PurchaseOption

RESERVED = offering(CPU4, PurchaseOption.RESERVED, price=0.12, term_s=365 * 86400.0)
OD = offering(CPU4, price=0.2)


def test_the_floor_of_the_base_is_bought_reserved_once():
    """Base 25 % of at least 8 replicas: two pods for good, one reserved CPU4 holds them."""
    web = replace(spec(rules=CapacityRules(on_demand_base_pct=0.25)), min_replicas=8)
    api = spec("api")  # no base: nothing reserved for it
    workloads = [status(web, 8, 0), status(api, 3, 0)]
    controller = ReservedBase()
    assert controller.decide(view(0, [], [], [OD, RESERVED], workloads)) == [Launch(RESERVED, 1)]
    bought = replace(node(CPU4, "r1"), offering=RESERVED)
    assert controller.decide(view(0, [bought], [], [OD, RESERVED], workloads)) == []


def test_no_base_no_reservation():
    assert ReservedBase().decide(view(0, [], [], [OD, RESERVED], [status(spec(), 2, 2)])) == []
