"""What Kubernetes' HPA does with a metric's proposal: stabilization, rate limits, min/max.

A port of the normalization half of kubernetes/kubernetes
``pkg/controller/podautoscaler/horizontal.go``: ``spec.behavior`` (autoscaling/v2) and the
legacy path for HPAs without one. Kubernetes keeps the recommendation history and the scale
events in controller memory; here they live in a :class:`ScalingHistory` value that the caller
owns and threads from one call to the next, so the same history replays the same decisions.

Comparisons of timestamps keep Kubernetes' edges: with ``spec.behavior`` a recommendation or
scale event exactly one window (or period) old no longer counts, while the legacy downscale
window still counts a recommendation exactly one window old.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class PolicyType(StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


class LimitReason(StrEnum):
    """The ``ScalingLimited`` condition's reason."""

    SCALE_UP_LIMIT = "ScaleUpLimit"
    SCALE_DOWN_LIMIT = "ScaleDownLimit"
    TOO_MANY_REPLICAS = "TooManyReplicas"
    TOO_FEW_REPLICAS = "TooFewReplicas"
    DESIRED_WITHIN_RANGE = "DesiredWithinRange"


class StabilizationReason(StrEnum):
    """The ``AbleToScale`` condition's reason after stabilization."""

    SCALE_UP_STABILIZED = "ScaleUpStabilized"
    SCALE_DOWN_STABILIZED = "ScaleDownStabilized"
    READY_FOR_NEW_SCALE = "ReadyForNewScale"


@dataclass(frozen=True)
class ScalingPolicy:
    """At most ``value`` pods (or percent of the replicas at the period's start) per period."""

    type: PolicyType
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction of ``spec.behavior``."""

    stabilization_window_s: int
    policies: tuple[ScalingPolicy, ...]
    select_policy: SelectPolicy = SelectPolicy.MAX

    @property
    def longest_period_s(self) -> int:
        return max((p.period_s for p in self.policies), default=0)


DEFAULT_SCALE_UP = ScalingRules(
    0, (ScalingPolicy(PolicyType.PODS, 4, 15), ScalingPolicy(PolicyType.PERCENT, 100, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(300, (ScalingPolicy(PolicyType.PERCENT, 100, 15),))
LEGACY_DOWNSCALE_WINDOW_S = 300.0
"""``--horizontal-pod-autoscaler-downscale-stabilization``; also the default scale-down window."""


@dataclass(frozen=True)
class HpaBehavior:
    """``spec.behavior`` with the autoscaling/v2 defaults for whatever is left out."""

    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class TimedRecommendation:
    replicas: int
    at_s: float


@dataclass(frozen=True)
class ScaleEvent:
    """A rescale of ``change`` replicas (always positive; the list says the direction).

    ``outdated`` marks an event older than every policy period: its slot may be reused.
    """

    change: int
    at_s: float
    outdated: bool = False


@dataclass(frozen=True)
class ScalingHistory:
    """What the Kubernetes controller remembers about one HPA between syncs."""

    recommendations: tuple[TimedRecommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Condition:
    """An HPA status condition as the arithmetic sets it (``status`` True/False)."""

    type: str
    status: bool
    reason: str


@dataclass(frozen=True)
class Limited:
    replicas: int
    reason: LimitReason


@dataclass(frozen=True)
class ScaleDecision:
    """One sync's outcome: the replicas to set, the conditions, and the history to keep."""

    replicas: int
    history: ScalingHistory
    conditions: tuple[Condition, ...]

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


def reconcile(
    history: ScalingHistory,
    now_s: float,
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    behavior: HpaBehavior | None,
    *,
    downscale_window_s: float = LEGACY_DOWNSCALE_WINDOW_S,
) -> ScaleDecision:
    """One HPA sync from the metrics' proposal on, as ``reconcileAutoscaler`` does it.

    ``desired_replicas`` is the highest proposal over the HPA's metrics. ``behavior=None`` is an
    HPA without ``spec.behavior`` (the legacy rules). A rescale is recorded as a scale event,
    assuming the caller applies it.
    """
    if not history.recommendations:
        history = replace(history, recommendations=(TimedRecommendation(current_replicas, now_s),))
    if current_replicas == 0 and min_replicas != 0:
        # Scaled to zero by hand: Kubernetes treats autoscaling as switched off.
        return ScaleDecision(0, history, (Condition("ScalingActive", False, "ScalingDisabled"),))

    conditions: tuple[Condition, ...] = ()
    if current_replicas > max_replicas:
        replicas = max_replicas
    elif current_replicas < min_replicas:
        replicas = min_replicas
    elif behavior is None:
        stabilized, history = stabilize_legacy(history, now_s, desired_replicas, downscale_window_s)
        limited = limit_legacy(current_replicas, stabilized, min_replicas, max_replicas)
        able = (
            StabilizationReason.SCALE_DOWN_STABILIZED
            if stabilized != desired_replicas
            else StabilizationReason.READY_FOR_NEW_SCALE
        )
        replicas = limited.replicas
        conditions = _conditions(able, limited, stabilized)
    else:
        stabilized, able, history = stabilize(
            history, behavior, now_s, current_replicas, desired_replicas
        )
        limited = limit_rate(
            history, behavior, now_s, current_replicas, stabilized, min_replicas, max_replicas
        )
        replicas = limited.replicas
        conditions = _conditions(able, limited, stabilized)

    if replicas != current_replicas:
        history = record_scale_event(history, behavior, now_s, current_replicas, replicas)
    return ScaleDecision(replicas, history, conditions)


def _conditions(
    able: StabilizationReason, limited: Limited, stabilized: int
) -> tuple[Condition, ...]:
    return (
        Condition("AbleToScale", True, able),
        Condition("ScalingLimited", limited.replicas != stabilized, limited.reason),
    )


def stabilize(
    history: ScalingHistory,
    behavior: HpaBehavior,
    now_s: float,
    current_replicas: int,
    desired_replicas: int,
) -> tuple[int, StabilizationReason, ScalingHistory]:
    """Clamp the current count between the lowest recommendation of the scale-up window and the
    highest of the scale-down window, then remember the raw ``desired_replicas``.

    The stored recommendation reuses the slot of one that has left both windows, so the history
    stays as long as the busiest window needs.
    """
    up_cutoff = now_s - behavior.scale_up.stabilization_window_s
    down_cutoff = now_s - behavior.scale_down.stabilization_window_s
    lowest = highest = desired_replicas
    stale: int | None = None
    for i, rec in enumerate(history.recommendations):  # every HPA, every sync: kept lean
        at, replicas = rec.at_s, rec.replicas
        if at > up_cutoff and replicas < lowest:
            lowest = replicas
        if at > down_cutoff and replicas > highest:
            highest = replicas
        if at < up_cutoff and at < down_cutoff:
            stale = i
    stabilized = min(max(current_replicas, lowest), highest)

    recommendations = _put(
        history.recommendations, stale, TimedRecommendation(desired_replicas, now_s)
    )
    history = ScalingHistory(recommendations, history.scale_up_events, history.scale_down_events)
    if stabilized == desired_replicas:
        reason = StabilizationReason.READY_FOR_NEW_SCALE
    elif desired_replicas >= current_replicas:
        reason = StabilizationReason.SCALE_UP_STABILIZED
    else:
        reason = StabilizationReason.SCALE_DOWN_STABILIZED
    return stabilized, reason, history


def limit_rate(
    history: ScalingHistory,
    behavior: HpaBehavior,
    now_s: float,
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
) -> Limited:
    """Apply the policies' rate limits and min/max (``convertDesiredReplicasWithBehaviorRate``).

    A limit never pushes against the direction of travel: after a burst of scale-ups the
    scale-up limit can fall below the current count, and then the count just stays.
    """
    if desired_replicas > current_replicas:
        up_limit = max(
            scale_up_limit(current_replicas, history, behavior.scale_up, now_s), current_replicas
        )
        if max_replicas > up_limit:
            ceiling, reason = up_limit, LimitReason.SCALE_UP_LIMIT
        else:
            ceiling, reason = max_replicas, LimitReason.TOO_MANY_REPLICAS
        if desired_replicas > ceiling:
            return Limited(ceiling, reason)
    elif desired_replicas < current_replicas:
        down_limit = min(
            scale_down_limit(current_replicas, history, behavior.scale_down, now_s),
            current_replicas,
        )
        if min_replicas < down_limit:
            floor, reason = down_limit, LimitReason.SCALE_DOWN_LIMIT
        else:
            floor, reason = min_replicas, LimitReason.TOO_FEW_REPLICAS
        if desired_replicas < floor:
            return Limited(floor, reason)
    return Limited(desired_replicas, LimitReason.DESIRED_WITHIN_RANGE)


def scale_up_limit(
    current_replicas: int, history: ScalingHistory, rules: ScalingRules, now_s: float
) -> int:
    """The most replicas the scale-up policies allow now (may be below the current count)."""
    if rules.select_policy is SelectPolicy.DISABLED or not rules.policies:
        return current_replicas
    proposals = []
    for policy in rules.policies:
        start = _period_start(current_replicas, history, policy.period_s, now_s)
        if policy.type is PolicyType.PODS:
            proposals.append(start + policy.value)
        else:
            # Rounded up so that a small percentage of a small count still adds a pod.
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    pick: Callable[[Iterable[int]], int] = min if rules.select_policy is SelectPolicy.MIN else max
    return pick(proposals)


def scale_down_limit(
    current_replicas: int, history: ScalingHistory, rules: ScalingRules, now_s: float
) -> int:
    """The fewest replicas the scale-down policies allow now (may exceed the current count)."""
    if rules.select_policy is SelectPolicy.DISABLED or not rules.policies:
        return current_replicas
    proposals = []
    for policy in rules.policies:
        start = _period_start(current_replicas, history, policy.period_s, now_s)
        if policy.type is PolicyType.PODS:
            proposals.append(start - policy.value)
        else:
            # Truncated, so a percentage removes at least as many pods as it says.
            proposals.append(int(start * (1 - policy.value / 100)))
    pick: Callable[[Iterable[int]], int] = max if rules.select_policy is SelectPolicy.MIN else min
    return pick(proposals)


def _period_start(current: int, history: ScalingHistory, period_s: int, now_s: float) -> int:
    added = replicas_changed_within(history.scale_up_events, period_s, now_s)
    removed = replicas_changed_within(history.scale_down_events, period_s, now_s)
    return current - added + removed


def replicas_changed_within(events: Iterable[ScaleEvent], period_s: float, now_s: float) -> int:
    """Replicas added (or removed) by the events of the last ``period_s`` seconds."""
    cutoff = now_s - period_s
    return sum(e.change for e in events if e.at_s > cutoff)


def record_scale_event(
    history: ScalingHistory,
    behavior: HpaBehavior | None,
    now_s: float,
    previous_replicas: int,
    new_replicas: int,
) -> ScalingHistory:
    """Remember a rescale for the rate limits (``storeScaleEvent``).

    Events older than the direction's longest policy period are marked outdated, and the last
    of them is overwritten by the new event. Without a behavior nothing is kept: the legacy
    rules never look at events.
    """
    if behavior is None:
        return history
    if new_replicas > previous_replicas:
        events = _store(
            history.scale_up_events,
            behavior.scale_up.longest_period_s,
            ScaleEvent(new_replicas - previous_replicas, now_s),
        )
        return replace(history, scale_up_events=events)
    events = _store(
        history.scale_down_events,
        behavior.scale_down.longest_period_s,
        ScaleEvent(previous_replicas - new_replicas, now_s),
    )
    return replace(history, scale_down_events=events)


def _store(
    events: tuple[ScaleEvent, ...], longest_period_s: int, event: ScaleEvent
) -> tuple[ScaleEvent, ...]:
    cutoff = event.at_s - longest_period_s
    marked = tuple(replace(e, outdated=True) if e.at_s < cutoff else e for e in events)
    reusable = [i for i, e in enumerate(marked) if e.outdated]
    return _put(marked, reusable[-1] if reusable else None, event)


def stabilize_legacy(
    history: ScalingHistory,
    now_s: float,
    desired_replicas: int,
    window_s: float = LEGACY_DOWNSCALE_WINDOW_S,
) -> tuple[int, ScalingHistory]:
    """The highest recommendation of the downscale window (HPAs without ``spec.behavior``)."""
    cutoff = now_s - window_s
    highest = desired_replicas
    stale: int | None = None
    for i, rec in enumerate(history.recommendations):  # every HPA, every sync: kept lean
        if rec.at_s < cutoff:
            stale = i
        elif rec.replicas > highest:
            highest = rec.replicas
    recommendations = _put(
        history.recommendations, stale, TimedRecommendation(desired_replicas, now_s)
    )
    kept = ScalingHistory(recommendations, history.scale_up_events, history.scale_down_events)
    return highest, kept


def legacy_scale_up_limit(current_replicas: int) -> int:
    """At most double, and at least 4 (guards against bogus CPU spikes, kubernetes#32304)."""
    return int(max(2.0 * current_replicas, 4.0))


def limit_legacy(
    current_replicas: int, desired_replicas: int, min_replicas: int, max_replicas: int
) -> Limited:
    """Clamp to min/max and the legacy scale-up limit (``convertDesiredReplicasWithRules``)."""
    up_limit = legacy_scale_up_limit(current_replicas)
    if max_replicas > up_limit:
        ceiling, reason = up_limit, LimitReason.SCALE_UP_LIMIT
    else:
        ceiling, reason = max_replicas, LimitReason.TOO_MANY_REPLICAS
    if desired_replicas < min_replicas:
        return Limited(min_replicas, LimitReason.TOO_FEW_REPLICAS)
    if desired_replicas > ceiling:
        return Limited(ceiling, reason)
    return Limited(desired_replicas, LimitReason.DESIRED_WITHIN_RANGE)


def _put(items: tuple[T, ...], index: int | None, item: T) -> tuple[T, ...]:
    if index is None:
        return (*items, item)
    return (*items[:index], item, *items[index + 1 :])


class BehaviorError(ValueError):
    """A ``spec.behavior`` that Kubernetes would refuse; the message names the field."""


def behavior_from_spec(spec: Mapping[str, Any] | None) -> HpaBehavior:
    """Read an autoscaling/v2 ``spec.behavior`` as Kubernetes defaults it: a direction left
    out, or a field of one left out, keeps its default (``DEFAULT_SCALE_UP``/``_DOWN``)."""
    spec = spec or {}
    if not isinstance(spec, Mapping):
        raise BehaviorError("behavior: a mapping with scaleUp and/or scaleDown")
    return HpaBehavior(
        _rules(spec.get("scaleUp"), DEFAULT_SCALE_UP, "behavior.scaleUp"),
        _rules(spec.get("scaleDown"), DEFAULT_SCALE_DOWN, "behavior.scaleDown"),
    )


def _rules(raw: object, default: ScalingRules, where: str) -> ScalingRules:
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise BehaviorError(f"{where}: a mapping (stabilizationWindowSeconds, policies, ...)")
    window = raw.get("stabilizationWindowSeconds", default.stabilization_window_s)
    if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 3600:
        raise BehaviorError(f"{where}.stabilizationWindowSeconds: whole seconds in 0..3600")
    try:
        select = SelectPolicy(raw.get("selectPolicy", SelectPolicy.MAX))
    except ValueError:
        raise BehaviorError(f"{where}.selectPolicy: one of {', '.join(SelectPolicy)}") from None
    policies = default.policies
    if "policies" in raw:
        items = raw["policies"]
        if not isinstance(items, list) or not items:
            raise BehaviorError(
                f"{where}.policies: a non-empty list of {{type, value, periodSeconds}}"
            )
        policies = tuple(_policy(p, f"{where}.policies[{i}]") for i, p in enumerate(items))
    return ScalingRules(window, policies, select)


def _policy(raw: object, where: str) -> ScalingPolicy:
    if not isinstance(raw, Mapping):
        raise BehaviorError(f"{where}: a mapping {{type, value, periodSeconds}}")
    try:
        kind = PolicyType(raw.get("type", ""))
    except ValueError:
        raise BehaviorError(f"{where}.type: one of {', '.join(PolicyType)}") from None
    value, period = raw.get("value"), raw.get("periodSeconds")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BehaviorError(f"{where}.value: a whole number > 0")
    if not isinstance(period, int) or isinstance(period, bool) or not 0 < period <= 1800:
        raise BehaviorError(f"{where}.periodSeconds: whole seconds in 1..1800")
    return ScalingPolicy(kind, value, period)
