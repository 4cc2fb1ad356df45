import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.capacity.commitments import plan_commitment


def brute_cost(demand, level, on_demand, committed):
    hours = demand[~np.isnan(demand)]
    return len(hours) * level * committed + np.maximum(hours - level, 0).sum() * on_demand


def test_hand_worked_two_two_two_ten_at_40_percent_off():
    # 4 hours; committing to 2 costs 4 x 2 x 0.6 = 4.8 and leaves 8 unit-hours on demand
    plan = plan_commitment(np.array([2.0, 2, 2, 10]), 1.0, 0.6)
    assert plan.level == 2
    assert plan.hours == 4
    assert plan.committed_per_hour == pytest.approx(1.2)
    assert plan.on_demand_per_hour == pytest.approx(2.0)
    assert plan.total_cost == pytest.approx(12.8)
    assert plan.no_commitment_cost == pytest.approx(16.0)
    assert plan.saving == pytest.approx(3.2)
    assert plan.saving_fraction == pytest.approx(0.2)
    assert plan.coverage == pytest.approx(8 / 16)
    assert plan.utilisation == 1.0
    assert plan.reason == ""


def test_deep_discount_commits_to_the_peak_when_it_is_common_enough():
    # at 80 % off a unit pays once it is used more than 20 % of the hours: 10 is used in 1 of 4
    plan = plan_commitment(np.array([2.0, 2, 2, 10]), 1.0, 0.2)
    assert plan.level == 10
    assert plan.utilisation == pytest.approx(16 / 40)
    assert plan.coverage == 1.0


def test_whole_units_pick_the_cheaper_neighbour():
    # continuous optimum 1.5; 1 costs 1.2 + 2.0 = 3.2, 2 costs 2.4 + 0.5 = 2.9
    plan = plan_commitment(np.array([1.5, 2.5]), 1.0, 0.6, whole_units=True)
    assert plan.level == 2
    assert plan.total_cost == pytest.approx(2.9)
    assert plan.utilisation == pytest.approx(3.5 / 4)
    assert plan.coverage == pytest.approx(3.5 / 4)


def test_nan_hours_are_left_out():
    with_gaps = plan_commitment(np.array([np.nan, 2, 2, np.nan, 2, 10]), 1.0, 0.6)
    without = plan_commitment(np.array([2.0, 2, 2, 10]), 1.0, 0.6)
    assert with_gaps == without


def test_no_saving_when_commitment_is_not_cheaper():
    plan = plan_commitment(np.array([5.0, 5, 5]), 1.0, 1.0)
    assert plan.level == 0
    assert plan.saving == 0 and plan.saving_fraction == 0
    assert plan.total_cost == plan.no_commitment_cost == pytest.approx(15)
    assert plan.coverage == 0 and plan.utilisation == 0
    assert "not below on-demand" in plan.reason


def test_no_demand_commits_nothing():
    plan = plan_commitment(np.zeros(5), 1.0, 0.6)
    assert plan.level == 0 and plan.total_cost == 0 and plan.coverage == 0


@pytest.mark.parametrize(
    ("demand", "on_demand", "committed", "message"),
    [
        (np.array([]), 1.0, 0.6, "no observed hours"),
        (np.array([np.nan, np.nan]), 1.0, 0.6, "no observed hours"),
        (np.array([1.0, -2]), 1.0, 0.6, ">= 0"),
        (np.array([[1.0, 2]]), 1.0, 0.6, "1-D"),
        (np.array([1.0]), -1.0, 0.6, "on-demand price must be > 0"),
        (np.array([1.0]), 0.0, 0.0, "on-demand price must be > 0"),
        (np.array([1.0]), 1.0, -0.1, "committed price must be >= 0"),
    ],
)
def test_bad_input(demand, on_demand, committed, message):
    with pytest.raises(ValueError, match=message):
        plan_commitment(demand, on_demand, committed)


histories = st.lists(
    st.one_of(st.none(), st.integers(0, 20).map(float), st.floats(0, 20)),
    min_size=1,
    max_size=30,
).filter(lambda xs: any(x is not None for x in xs))


@settings(max_examples=300, deadline=None)
@given(histories, st.floats(0.01, 0.99), st.floats(0.1, 10), st.booleans())
def test_optimum_matches_brute_force(values, discount, on_demand, whole):
    demand = np.array([np.nan if x is None else x for x in values])
    committed = on_demand * (1 - discount)
    plan = plan_commitment(demand, on_demand, committed, whole_units=whole)
    observed = demand[~np.isnan(demand)]
    if whole:
        levels = np.arange(0, math.ceil(observed.max()) + 2, dtype=float)
    else:  # convex and piecewise linear: the optimum sits on a breakpoint
        levels = np.concatenate(([0.0], observed))
    best = min(brute_cost(demand, c, on_demand, committed) for c in levels)
    assert plan.total_cost == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert plan.total_cost == pytest.approx(brute_cost(demand, plan.level, on_demand, committed))
    assert plan.saving >= -1e-9
    assert 0 <= plan.coverage <= 1 + 1e-12 and 0 <= plan.utilisation <= 1 + 1e-12
    assert float(plan.level).is_integer() or not whole
