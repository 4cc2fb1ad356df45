"""HPA normalization against Kubernetes' own unit-test cases (data/), worked examples and
properties."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.scaling import behavior as hb
from tidewise.scaling.behavior import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    BehaviorError,
    HpaBehavior,
    PolicyType,
    ScaleEvent,
    ScalingHistory,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    TimedRecommendation,
    behavior_from_spec,
)

DATA = yaml.safe_load((Path(__file__).parent / "data" / "k8s_behavior_cases.yaml").read_text())
NOW_S = 10_000.0


def rules_from(spec):
    """Go's generateScalingRules(pods, podsPeriod, percent, percentPeriod, window), or an
    explicit policy list."""
    if "policies" in spec:
        policies = tuple(
            ScalingPolicy(PolicyType(p["type"]), p["value"], p["period_s"])
            for p in spec["policies"]
        )
        return ScalingRules(spec["window_s"], policies, SelectPolicy(spec["select"]))
    policies = []
    if spec["pods"]:
        policies.append(ScalingPolicy(PolicyType.PODS, spec["pods"], spec["pods_period_s"]))
    if spec["percent"]:
        policies.append(
            ScalingPolicy(PolicyType.PERCENT, spec["percent"], spec["percent_period_s"])
        )
    return ScalingRules(spec["window_s"], tuple(policies))


def behavior_from(case):
    up, down = case.get("scale_up_rules"), case.get("scale_down_rules")
    return HpaBehavior(
        scale_up=rules_from(up) if up else hb.DEFAULT_SCALE_UP,
        scale_down=rules_from(down) if down else hb.DEFAULT_SCALE_DOWN,
    )


def events(raw):
    return tuple(ScaleEvent(e["change"], NOW_S - e["age_s"]) for e in raw or ())


def recommendations(raw):
    return tuple(TimedRecommendation(r["replicas"], NOW_S - r["age_s"]) for r in raw)


@pytest.mark.parametrize("case", DATA["stabilization_cases"], ids=lambda c: c["name"])
def test_kubernetes_stabilization_case(case):
    behavior = HpaBehavior(
        scale_up=ScalingRules(case.get("scale_up_window_s", 0), ()),
        scale_down=ScalingRules(case.get("scale_down_window_s", 0), ()),
    )
    history = ScalingHistory(recommendations=recommendations(case["recommendations"]))
    stabilized, _, after = hb.stabilize(
        history, behavior, NOW_S, case["current_replicas"], case["desired_replicas"]
    )
    assert stabilized == case["expected_stabilized"]
    if "expected_recommendations" in case:
        assert [r.replicas for r in after.recommendations] == case["expected_recommendations"]


@pytest.mark.parametrize("case", DATA["rate_cases"], ids=lambda c: c["name"])
def test_kubernetes_rate_limit_case(case):
    history = ScalingHistory(
        scale_up_events=events(case.get("scale_up_events")),
        scale_down_events=events(case.get("scale_down_events")),
    )
    limited = hb.limit_rate(
        history,
        behavior_from(case),
        NOW_S,
        case["current_replicas"],
        case["desired_replicas"],
        case["min_replicas"],
        case["max_replicas"],
    )
    assert (limited.replicas, limited.reason) == (
        case["expected_replicas"],
        case["expected_condition"],
    )


@pytest.mark.parametrize("case", DATA["limit_cases"], ids=lambda c: c["name"])
def test_kubernetes_policy_limit_case(case):
    limit = hb.scale_up_limit if case["direction"] == "up" else hb.scale_down_limit
    rules = rules_from(case["rules"])
    assert limit(case["current_replicas"], ScalingHistory(), rules, NOW_S) == case["expected_limit"]


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("case", DATA["store_cases"], ids=lambda c: c["name"])
def test_kubernetes_store_scale_events_case(case, direction):
    stored = events(case["events"])
    assert hb.replicas_changed_within(stored, 60, NOW_S) == case["expected_change_60s"]
    rules = rules_from(case["rules"]) if "rules" in case else None
    if direction == "up":
        behavior = HpaBehavior(scale_up=rules) if rules else None
        history = ScalingHistory(scale_up_events=stored)
        new = 10 + case["replica_change"]
    else:
        behavior = HpaBehavior(scale_down=rules) if rules else None
        history = ScalingHistory(scale_down_events=stored)
        new = 10 - case["replica_change"]
    after = hb.record_scale_event(history, behavior, NOW_S, 10, new)
    kept = after.scale_up_events if direction == "up" else after.scale_down_events
    assert [{"change": e.change, "outdated": e.outdated} for e in kept] == case["expected_events"]


@pytest.mark.parametrize("case", DATA["legacy_stabilization_cases"], ids=lambda c: c["name"])
def test_kubernetes_legacy_stabilization_case(case):
    history = ScalingHistory(recommendations=recommendations(case["recommendations"]))
    stabilized, after = hb.stabilize_legacy(history, NOW_S, case["desired_replicas"])
    assert stabilized == case["expected_stabilized"]
    assert len(after.recommendations) == case["expected_log_length"]


@pytest.mark.parametrize("case", DATA["legacy_limit_cases"], ids=lambda c: c["name"])
def test_kubernetes_legacy_limit_case(case):
    limited = hb.limit_legacy(
        case["current_replicas"],
        case["desired_replicas"],
        case["min_replicas"],
        case["max_replicas"],
    )
    assert (limited.replicas, limited.reason) == (
        case["expected_replicas"],
        case["expected_condition"],
    )


# --- worked examples --------------------------------------------------------------------------


def run(behavior, current, desired, *, ticks, period_s=15.0, min_replicas=1, max_replicas=1000):
    """Sync every period_s with a constant metric proposal; the replica count after each."""
    history = ScalingHistory()
    counts = []
    for tick in range(ticks):
        decision = hb.reconcile(
            history, tick * period_s, current, desired, min_replicas, max_replicas, behavior
        )
        history, current = decision.history, decision.replicas
        counts.append(current)
    return counts


def test_docs_example_pods_and_percent_per_minute():
    # kubernetes.io HPA docs: scale-down policies Pods 4/60 s and Percent 10/60 s, Max.
    # From 80 to 10: the first minute removes 8 (10 %), then 10 % of what is left, rounded
    # so that at least 10 % goes (72 -> 64), until below 40 replicas 4 pods a minute wins.
    down = ScalingRules(
        0,
        (ScalingPolicy(PolicyType.PODS, 4, 60), ScalingPolicy(PolicyType.PERCENT, 10, 60)),
    )
    counts = run(HpaBehavior(scale_down=down), 80, 10, ticks=14 * 4)
    per_minute = counts[::4]
    assert per_minute == [72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10]
    assert counts[1:4] == [72, 72, 72]  # the rest of the first minute holds


def test_default_behavior_waits_five_minutes_then_drops_at_once():
    # The recommendation of 8 recorded at t=0 holds for 300 s (a window-old one no longer
    # counts); then the default 100 %-per-15 s policy allows the whole drop.
    counts = run(HpaBehavior(), 8, 2, ticks=22)
    assert counts[:20] == [8] * 20
    assert counts[20:] == [2, 2]


def test_default_behavior_scale_up_doubles_or_adds_four_per_period():
    # Pods 4 / Percent 100 per 15 s, Max: 1 -> 5 (+4 beats doubling), then doubling wins.
    assert run(HpaBehavior(), 1, 100, ticks=6) == [5, 10, 20, 40, 80, 100]


def test_min_select_policy_takes_the_smaller_step():
    up = ScalingRules(
        0,
        (ScalingPolicy(PolicyType.PODS, 4, 15), ScalingPolicy(PolicyType.PERCENT, 100, 15)),
        SelectPolicy.MIN,
    )
    assert run(HpaBehavior(scale_up=up), 1, 100, ticks=4) == [2, 4, 8, 12]


def test_disabled_direction_never_moves():
    down = ScalingRules(0, hb.DEFAULT_SCALE_DOWN.policies, SelectPolicy.DISABLED)
    assert run(HpaBehavior(scale_down=down), 10, 1, ticks=3) == [10, 10, 10]


def test_legacy_path_doubles_with_a_floor_of_four_and_stabilizes_downscale():
    assert run(None, 1, 100, ticks=4) == [4, 8, 16, 32]
    # Unlike spec.behavior's window, the legacy one still counts a recommendation exactly
    # 300 s old: the drop comes one sync later.
    assert run(None, 8, 2, ticks=22)[19:] == [8, 8, 2]


def test_replicas_outside_min_max_are_brought_back_and_recorded():
    decision = hb.reconcile(ScalingHistory(), 0.0, 12, 3, 1, 10, HpaBehavior())
    assert decision.replicas == 10
    assert decision.history.scale_down_events == (ScaleEvent(2, 0.0),)


def test_scaled_to_zero_by_hand_disables_autoscaling():
    decision = hb.reconcile(ScalingHistory(), 0.0, 0, 5, 1, 10, HpaBehavior())
    assert decision.replicas == 0
    assert decision.condition("ScalingActive") == hb.Condition(
        "ScalingActive", False, "ScalingDisabled"
    )


def test_conditions_report_stabilization_and_limits():
    history = ScalingHistory(recommendations=(TimedRecommendation(9, -60.0),))
    decision = hb.reconcile(history, 0.0, 10, 4, 1, 20, HpaBehavior())
    assert decision.replicas == 9
    assert decision.condition("AbleToScale").reason == "ScaleDownStabilized"
    limited = decision.condition("ScalingLimited")
    assert (limited.status, limited.reason) == (False, "DesiredWithinRange")


def test_an_event_exactly_one_period_old_is_not_yet_outdated():
    # Kubernetes marks events strictly older than the longest period; this one keeps its slot.
    behavior = HpaBehavior(scale_up=ScalingRules(0, (ScalingPolicy(PolicyType.PODS, 4, 60),)))
    history = ScalingHistory(scale_up_events=(ScaleEvent(3, 0.0),))
    after = hb.record_scale_event(history, behavior, 60.0, 10, 12)
    assert after.scale_up_events == (ScaleEvent(3, 0.0), ScaleEvent(2, 60.0))


# --- properties -------------------------------------------------------------------------------

policies = st.lists(
    st.builds(
        ScalingPolicy,
        st.sampled_from(PolicyType),
        st.integers(1, 200),
        st.integers(1, 1800),
    ),
    max_size=3,
).map(tuple)
rules = st.builds(ScalingRules, st.integers(0, 3600), policies, st.sampled_from(SelectPolicy))
behaviors = st.none() | st.builds(HpaBehavior, rules, rules)
steps = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 300)), min_size=1, max_size=40)


@st.composite
def bounds(draw):
    min_replicas = draw(st.integers(0, 20))
    max_replicas = draw(st.integers(max(min_replicas, 1), 100))
    current = draw(st.integers(max(min_replicas, 1), max_replicas))
    return min_replicas, max_replicas, current


@settings(max_examples=300, deadline=None)
@given(bounds(), behaviors, steps)
def test_result_is_always_within_min_and_max(limits, behavior, sequence):
    min_replicas, max_replicas, current = limits
    history, now = ScalingHistory(), 0.0
    for dt, desired in sequence:
        now += dt
        decision = hb.reconcile(
            history, now, current, desired, min_replicas, max_replicas, behavior
        )
        assert min_replicas <= decision.replicas <= max_replicas
        history, current = decision.history, decision.replicas


@settings(max_examples=300, deadline=None)
@given(bounds(), st.lists(st.tuples(st.integers(1, 120), st.integers(0, 300)), max_size=60))
def test_default_behavior_never_scales_below_a_recommendation_of_the_last_300_s(limits, sequence):
    min_replicas, max_replicas, current = limits
    history, now = ScalingHistory(), 0.0
    seen = []
    for dt, desired in sequence:
        now += dt
        if not seen:
            seen.append((now, current))  # Kubernetes first records the size it finds
        decision = hb.reconcile(
            history, now, current, desired, min_replicas, max_replicas, HpaBehavior()
        )
        if decision.replicas < current:
            assert all(decision.replicas >= r for t, r in seen if now - t < 300)
        seen.append((now, desired))
        history, current = decision.history, decision.replicas


def test_behavior_from_spec_defaults_what_is_left_out():
    behavior = behavior_from_spec(
        {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    )
    assert behavior.scale_up == DEFAULT_SCALE_UP
    assert behavior.scale_down.stabilization_window_s == DEFAULT_SCALE_DOWN.stabilization_window_s
    assert behavior.scale_down.policies == (ScalingPolicy(PolicyType.PODS, 1, 60),)
    assert behavior_from_spec(None) == HpaBehavior()
    up = behavior_from_spec({"scaleUp": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min"}})
    assert up.scale_up.stabilization_window_s == 30
    assert up.scale_up.select_policy is SelectPolicy.MIN
    assert up.scale_up.policies == DEFAULT_SCALE_UP.policies


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"scaleUp": {"stabilizationWindowSeconds": -1}}, "scaleUp.stabilizationWindowSeconds"),
        ({"scaleUp": {"selectPolicy": "Most"}}, "scaleUp.selectPolicy"),
        ({"scaleDown": {"policies": []}}, "scaleDown.policies"),
        ({"scaleDown": {"policies": [{"type": "Nodes", "value": 1}]}}, "policies[0].type"),
        (
            {"scaleDown": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 1}]}},
            "policies[0].value",
        ),
        ({"scaleUp": {"policies": [{"type": "Pods", "value": 1}]}}, "policies[0].periodSeconds"),
    ],
)
def test_behavior_from_spec_names_the_bad_field(spec, field):
    with pytest.raises(BehaviorError, match=field.replace("[", r"\[").replace("]", r"\]")):
        behavior_from_spec(spec)
