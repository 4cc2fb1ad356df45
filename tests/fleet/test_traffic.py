import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.fleet.traffic import (
    TOTAL,
    ShiftRun,
    ShiftStatus,
    Target,
    TrafficError,
    TrafficModel,
    plan_shift,
    rising,
    split,
)


def green(_: str) -> bool:
    return True


def test_split_adds_up_and_follows_the_base():
    assert split(70, {"a": 1, "c": 1}) == {"a": 35, "c": 35}
    assert split(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert split(9, {"a": 0, "b": 0}) == {"a": 5, "b": 4}
    assert split(50, {"a": 3, "b": 1}) == {"a": 38, "b": 12}


@given(
    st.integers(0, 1000), st.dictionaries(st.sampled_from("abcde"), st.integers(0, 300), min_size=1)
)
def test_split_always_adds_up_exactly(total, base):
    parts = split(total, base)
    assert sum(parts.values()) == total
    assert set(parts) == set(base)


def test_plan_moves_in_steps_and_ends_on_the_goal():
    assert plan_shift({"a": 100, "b": 0}, "b", 30, 10) == (
        {"b": 10, "a": 90},
        {"b": 20, "a": 80},
        {"b": 30, "a": 70},
    )
    assert plan_shift({"a": 70, "b": 30}, "b", 100, 40) == (
        {"b": 70, "a": 30},
        {"b": 100, "a": 0},
    )
    assert plan_shift({"a": 7, "b": 3}, "b", 20, 15) == ({"b": 20, "a": 80},)


def test_plan_rescales_other_units_and_is_empty_at_the_goal():
    assert plan_shift({"a": 256, "b": 0}, "b", 0, 10) == ({"b": 0, "a": 100},)
    assert plan_shift({"a": 70, "b": 30}, "b", 30, 10) == ()


def test_plan_keeps_the_others_proportions():
    assert plan_shift({"a": 60, "b": 0, "c": 20}, "b", 20, 20) == ({"b": 20, "a": 60, "c": 20},)


@pytest.mark.parametrize(
    ("to", "ratio", "step", "field"),
    [("z", 30, 10, "--to"), ("b", 130, 10, "--ratio"), ("b", 30, 0, "--step")],
)
def test_plan_refuses_bad_input_naming_the_option(to, ratio, step, field):
    with pytest.raises(TrafficError, match=field):
        plan_shift({"a": 100, "b": 0}, to, ratio, step)


@given(
    st.dictionaries(st.sampled_from("abcd"), st.integers(0, 256), min_size=2),
    st.integers(0, TOTAL),
    st.integers(1, TOTAL),
)
def test_every_step_is_bounded_and_the_last_is_the_goal(weights, ratio, step):
    to = sorted(weights)[0]
    plan = plan_shift(weights, to, ratio, step)
    if not plan:
        return
    assert plan[-1][to] == ratio
    previous = round(TOTAL * weights[to] / sum(weights.values())) if sum(weights.values()) else 0
    for weights_now in plan:
        assert sum(weights_now.values()) == TOTAL
        assert abs(weights_now[to] - previous) <= step
        previous = weights_now[to]


def drive(run, health, gates=green):
    """What a caller does: apply each pending step, check it, stop on anything but RUNNING."""
    applied = []
    while True:
        run = run.proceed(gates)
        if run.status is not ShiftStatus.RUNNING:
            return run, applied
        applied.append(run.pending)
        run = run.checked(health(run.pending))


def test_a_healthy_shift_goes_through_every_step():
    run, applied = drive(
        ShiftRun.plan({"a": 100, "b": 0}, "b", 30, 10), lambda _: {"a": True, "b": True}
    )
    assert run.status is ShiftStatus.DONE
    assert [s["b"] for s in applied] == [10, 20, 30]
    assert run.last_good == {"a": 70, "b": 30}


def test_a_failed_check_rolls_back_to_the_last_good_weights():
    def health(step):
        return {"a": True, "b": step["b"] < 20}

    run, applied = drive(ShiftRun.plan({"a": 100, "b": 0}, "b", 30, 10), health)
    assert run.status is ShiftStatus.ROLLED_BACK
    assert [s["b"] for s in applied] == [10, 20]
    assert run.last_good == {"b": 10, "a": 90}
    assert "b" in run.reason and "a=90 b=10" in run.reason


def test_traffic_does_not_rise_to_a_cluster_whose_gates_are_red():
    run, applied = drive(
        ShiftRun.plan({"a": 100, "b": 0}, "b", 30, 10),
        lambda _: {"a": True, "b": True},
        gates=lambda c: c != "b",
    )
    assert run.status is ShiftStatus.BLOCKED
    assert applied == []
    assert run.last_good == {"a": 100, "b": 0}
    # moving traffic away from a red cluster is always allowed
    away, _ = drive(
        ShiftRun.plan({"a": 70, "b": 30}, "b", 0, 10),
        lambda _: {"a": True, "b": True},
        gates=lambda c: c != "b",
    )
    assert away.status is ShiftStatus.DONE


def test_rising_compares_shares_not_raw_weights():
    assert rising({"a": 200, "b": 56}, {"a": 70, "b": 30}) == ["b"]


def test_model_validates_and_reports_weights():
    model = TrafficModel((Target("a", "10.0.0.1:80", 70), Target("b", "10.0.0.2:80", 30)))
    assert model.weights() == {"a": 70, "b": 30}
    assert model.shares() == {"a": 0.7, "b": 0.3}
    with pytest.raises(TrafficError, match="unique"):
        TrafficModel((Target("a", "x:1", 1), Target("a", "y:1", 1)))
    with pytest.raises(TrafficError, match=r"b\.weight"):
        TrafficModel((Target("b", "x:1", -1),))
