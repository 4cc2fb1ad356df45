"""The on-demand base one replica at a time: the capacity a new replica is pinned to, the
deletion costs that make scale-in take spot first, and the evictions that repair a base found
short."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.capacity.ondemand_base import (
    DeletionCost,
    Replica,
    next_capacity,
    plan_base,
)
from tidewise.model import CapacityRules, PurchaseOption

OD, SPOT, RESERVED = PurchaseOption.ON_DEMAND, PurchaseOption.SPOT, PurchaseOption.RESERVED
THREE = CapacityRules(on_demand_base=3)


def replicas(*capacities: PurchaseOption | None, going: frozenset[int] = frozenset()):
    return [Replica(f"p{i}", c, float(i), going=i in going) for i, c in enumerate(capacities)]


def test_the_first_replicas_take_the_base_and_the_rest_go_to_spot():
    existing: list[Replica] = []
    for i in range(10):
        existing.append(Replica(f"p{i}", next_capacity(THREE, 10, existing), float(i)))
    assert [r.capacity for r in existing] == [OD] * 3 + [SPOT] * 7


def test_reserved_holds_the_base_and_a_replica_going_away_does_not():
    assert next_capacity(THREE, 10, replicas(OD, RESERVED, OD)) is SPOT
    assert next_capacity(THREE, 10, replicas(OD, RESERVED, OD, going=frozenset({2}))) is OD


def test_a_share_of_the_replicas_rounds_up_and_follows_the_replica_count():
    share = CapacityRules.of_base("30%")
    assert share.base(10) == 3 and share.base(4) == 2 and share.base(20) == 6
    assert next_capacity(share, 20, replicas(OD, OD, OD, SPOT)) is OD


def test_of_base_reads_a_count_or_a_share_and_refuses_the_rest():
    assert CapacityRules.of_base(" 3 ") == CapacityRules(on_demand_base=3)
    assert CapacityRules.of_base("25%") == CapacityRules(on_demand_base_pct=0.25)
    for bad in ("-1", "three", "150%", "%", "3.5", ""):
        with pytest.raises(ValueError, match="count >= 0"):
            CapacityRules.of_base(bad)


def test_deletion_costs_put_spot_first_the_base_last_and_the_excess_before_spot():
    plan = plan_base(THREE, 7, replicas(OD, SPOT, OD, OD, OD, SPOT))
    assert plan.costs == {
        "p0": DeletionCost.BASE,
        "p1": DeletionCost.SPOT,
        "p2": DeletionCost.BASE,
        "p3": DeletionCost.BASE,
        "p4": DeletionCost.EXCESS,  # the youngest on-demand beyond the base of 3
        "p5": DeletionCost.SPOT,
    }
    assert plan.evict == () and plan.short == 0  # one replica still to come: no eviction


def test_replicas_beyond_the_base_are_evicted_newest_first_once_all_exist():
    """Four admitted at once all saw an empty base of 3: the newest extra one goes."""
    plan = plan_base(THREE, 6, replicas(OD, OD, SPOT, OD, OD, SPOT))
    assert plan.over == 1 and plan.short == 0
    assert plan.evict == ("p4",)


def test_a_short_base_evicts_the_newest_spot_replicas_once_all_replicas_exist():
    plan = plan_base(THREE, 5, replicas(OD, SPOT, SPOT, SPOT, SPOT))
    assert plan.short == 2
    assert plan.evict == ("p4", "p3")


def test_no_eviction_while_the_controller_is_still_creating_replicas():
    """An on-demand node lost: 3 replicas gone, their replacements are on the way and the
    webhook will pin them on-demand; evicting spot replicas too would cost them for nothing."""
    plan = plan_base(THREE, 10, replicas(*[SPOT] * 7))
    assert plan.short == 3 and plan.evict == ()


def test_no_eviction_while_the_controller_is_deleting_replicas():
    """Scaled from 6 to 2: the ReplicaSet deletes 4 (spot first, then the youngest base);
    evicting an on-demand replica over base(2) as well would leave one."""
    plan = plan_base(THREE, 2, replicas(OD, OD, OD, SPOT, SPOT, SPOT))
    assert plan.over == 1 and plan.evict == ()


def test_replicas_admitted_without_the_webhook_are_evicted_before_pinned_spot():
    existing = [
        Replica("od", OD, 0.0),
        Replica("pinned-spot", SPOT, 1.0),
        Replica("loose", SPOT, 0.5, pinned=False),
        Replica("unknown", None, 2.0, pinned=False),  # not scheduled: cannot say
    ]
    plan = plan_base(CapacityRules(on_demand_base=2), 4, existing)
    assert plan.evict == ("loose",)
    assert plan.costs["unknown"] is DeletionCost.SPOT


@given(
    base=st.integers(0, 12),
    capacities=st.lists(st.sampled_from([OD, SPOT, RESERVED, None]), max_size=15),
    going=st.sets(st.integers(0, 14)),
)
def test_a_repair_evicts_only_spot_when_short_only_the_excess_when_over_never_the_base(
    base, capacities, going
):
    rules = CapacityRules(on_demand_base=base)
    existing = replicas(*capacities, going=frozenset(going))
    plan = plan_base(rules, len(capacities), existing)
    by_name = {r.name: r for r in existing}
    evicted = [by_name[n] for n in plan.evict]
    assert not any(r.going for r in evicted)
    if plan.short:
        assert not any(r.guaranteed for r in evicted) and len(evicted) <= plan.short
    else:
        assert all(plan.costs[r.name] is DeletionCost.EXCESS for r in evicted)
        assert len(evicted) <= plan.over
    assert set(plan.costs) == {r.name for r in existing if not r.going}
    base_held = sum(1 for c in plan.costs.values() if c is DeletionCost.BASE)
    assert base_held == min(plan.held, plan.base)
