import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.fleet.failover import (
    FULL,
    ClusterHealth,
    FailoverPolicy,
    ScaleOnCluster,
    ScaleOptionalDown,
    Shortfall,
    degradation,
    effective_weights,
    failover_bound_s,
    shortfalls,
)
from tidewise.fleet.traffic import TrafficError


def admitted_over(policy, probes, gates=None):
    """``a``'s admitted percent after each tick of a probe sequence."""
    state: dict[str, ClusterHealth] = {}
    out = []
    for i, ok in enumerate(probes):
        state = policy.observe(state, {"a": ok}, {"a": True if gates is None else gates[i]})
        out.append(state["a"].admitted)
    return out


def test_fall_failures_take_the_cluster_out_and_fewer_do_not():
    policy = FailoverPolicy(fall=3, rise=2, step=50, step_every=1)
    assert admitted_over(policy, [False, False, True, False, False]) == [FULL] * 5
    assert admitted_over(policy, [False, False, False]) == [FULL, FULL, 0]


def test_recovery_waits_for_rise_then_climbs_in_steps():
    policy = FailoverPolicy(fall=1, rise=3, step=25, step_every=2)
    seq = [False] + [True] * 10
    assert admitted_over(policy, seq) == [0, 0, 0, 25, 25, 50, 50, 75, 75, 100, 100]
    assert policy.recovery_ticks() == 9  # ticks of success from 0 to full


def test_a_failure_pauses_the_climb_until_rise_successes_again():
    policy = FailoverPolicy(fall=3, rise=2, step=50, step_every=1)
    seq = [False] * 3 + [True, True, False, True, True, True]
    assert admitted_over(policy, seq) == [FULL, FULL, 0, 0, 50, 50, 50, 100, 100]


def test_red_gates_hold_the_climb():
    policy = FailoverPolicy(fall=1, rise=1, step=50, step_every=1)
    assert admitted_over(policy, [False, True, True, True], [True, False, False, True]) == [
        0,
        0,
        0,
        50,
    ]


def test_probes_that_alternate_never_move_the_weight():
    policy = FailoverPolicy(fall=2, rise=2, step=50, step_every=1)
    assert admitted_over(policy, [True, False] * 20) == [FULL] * 40
    down = [False, False] + [True, False] * 20
    assert admitted_over(policy, down)[1:] == [0] * 41


policies = st.builds(
    FailoverPolicy,
    fall=st.integers(1, 5),
    rise=st.integers(1, 5),
    step=st.integers(1, FULL),
    step_every=st.integers(1, 4),
)
# runs of equal probe results (a cluster is down or up for a while, or flickers), each run with
# its gates green or red: streaks long enough to cross ``fall`` and ``rise`` are common
runs = st.tuples(st.booleans(), st.integers(1, 12), st.booleans())
sequences = st.lists(runs, min_size=1, max_size=30).map(
    lambda rs: [(ok, green) for ok, n, green in rs for _ in range(n)]
)


@given(policies, sequences)
def test_the_policy_never_flaps(policy, seq):
    """The hysteresis, stated formally, on any probe and gate sequence.

    With a_t the admitted percent after tick t (a_-1 = FULL):
    1. a drop (a_t < a_-1) goes to 0 and comes right after ``fall`` failed probes in a row;
    2. a rise is at most ``step``, comes after ``rise`` successful probes in a row, with the
       gates green, and at least ``step_every`` ticks after the previous change unless it is
       the first step from 0;
    3. hence a rise and a later drop are >= ``fall`` ticks apart, a drop and a later rise
       >= ``rise`` ticks apart: no oscillation within the hysteresis window.
    """
    oks = [ok for ok, _ in seq]
    admitted = admitted_over(policy, oks, [g for _, g in seq])
    previous, last_change, last_dir = FULL, None, None
    for t, a in enumerate(admitted):
        if a < previous:
            assert a == 0
            assert t + 1 >= policy.fall and not any(oks[t - policy.fall + 1 : t + 1])
            if last_dir == "up":
                assert t - last_change >= policy.fall
            last_change, last_dir = t, "down"
        elif a > previous:
            assert a - previous <= policy.step
            assert seq[t][1]
            assert t + 1 >= policy.rise and all(oks[t - policy.rise + 1 : t + 1])
            if last_dir == "down":
                assert t - last_change >= policy.rise
            elif last_dir == "up":
                assert t - last_change >= policy.step_every
            last_change, last_dir = t, "up"
        assert 0 <= a <= FULL
        previous = a


@given(policies, st.integers(0, 30))
def test_unbroken_success_brings_a_cluster_back_in_recovery_ticks(policy, extra):
    seq = [False] * policy.fall + [True] * (policy.recovery_ticks() + extra)
    admitted = admitted_over(policy, seq)
    assert admitted[policy.fall - 1] == 0
    assert admitted[policy.fall + policy.recovery_ticks() - 1] == FULL
    assert admitted[policy.fall + policy.recovery_ticks() - 2] < FULL


def test_effective_weights_scale_desired_and_keep_the_first_step():
    state = {"a": ClusterHealth(admitted=0), "b": ClusterHealth(admitted=FULL)}
    assert effective_weights({"a": 70, "b": 30}, state) == {"a": 0, "b": 30}
    state = {"a": ClusterHealth(admitted=1), "b": ClusterHealth(admitted=50)}
    assert effective_weights({"a": 70, "b": 30}, state) == {"a": 1, "b": 15}
    assert effective_weights({"a": 70, "c": 0}, {}) == {"a": 70, "c": 0}


def test_the_bound_is_fall_intervals_plus_one_probe_and_one_apply():
    assert failover_bound_s(0.5, 3, 0.25, 1.0) == pytest.approx(2.75)


@pytest.mark.parametrize("field", ["fall", "rise", "step_every"])
def test_bad_settings_name_their_field(field):
    with pytest.raises(TrafficError, match=rf"failover\.{field}"):
        FailoverPolicy(**{field: 0})
    with pytest.raises(TrafficError, match=r"failover\.step"):
        FailoverPolicy(step=101)


def test_the_survivor_degrades_when_short_and_restores_after():
    hook = ScaleOptionalDown({"b": {"ml/recommender": 4, "ml/search-suggest": 2}})
    capacity = {"a": 0.8, "b": 0.6}
    normal = shortfalls({"a": 50, "b": 50}, capacity)
    failed = shortfalls({"a": 0, "b": 50}, capacity)
    assert normal == {}
    assert failed == {"b": Shortfall("b", 1.0, 0.6)}
    assert degradation(normal, failed, hook) == [
        ScaleOnCluster("b", "ml/recommender", 0),
        ScaleOnCluster("b", "ml/search-suggest", 0),
    ]
    assert degradation(failed, failed, hook) == []
    assert degradation(failed, normal, hook) == [
        ScaleOnCluster("b", "ml/recommender", 4),
        ScaleOnCluster("b", "ml/search-suggest", 2),
    ]
