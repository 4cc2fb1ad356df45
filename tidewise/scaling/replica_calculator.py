"""Kubernetes' HPA replica arithmetic (autoscaling/v2), one function per metric kind.

A port of the rules in kubernetes/kubernetes ``pkg/controller/podautoscaler/replica_calculator.go``
(and ``metrics/utilization.go``), written so that the twin and a real cluster recommend exactly
what the Kubernetes controller would. Quantities are Kubernetes milli-values (``int``, as
``Quantity.MilliValue()`` gives them: 1 CPU = 1000, 20 requests/s = 20000) because Kubernetes
truncates its averages and utilizations to integers and the truncation changes results near
the tolerance band. Time is float seconds on any clock the caller likes; nothing here reads one.

Kubernetes quirks kept on purpose (they decide real scaling):

* the ratio is taken from the *truncated* integer utilization (``usage * 100 // request``);
* the multiplier is the number of pods that produced usable metrics, not ``spec.replicas``;
* pods without a sample count as 100 % of their request (or of the target, if the target is
  above 100 %) when scaling down and as 0 when scaling up; unready pods count as 0, but only
  when scaling up; if that flips the direction, or lands in the tolerance band, nothing changes;
* replica counts saturate at the int32 maximum, metric sums at the int64 maximum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed"]

MAX_REPLICAS = 2**31 - 1
"""Replica counts are int32 in the Kubernetes API; larger proposals saturate here."""

MAX_MILLI_VALUE = 2**63 - 1
"""Milli-values are int64 in Kubernetes; an external metric's sum saturates here."""


class ReplicaCalculationError(ValueError):
    """No recommendation can be made; Kubernetes marks the HPA ``ScalingActive=False``."""


class NoPodsError(ReplicaCalculationError):
    """The selector matched no pods."""


class NoMetricsError(ReplicaCalculationError):
    """None of the pods that count produced a sample (all missing, unready or ignored)."""


class MissingRequestError(ReplicaCalculationError):
    """A pod lacks a request for the resource, so its utilization is undefined."""


@dataclass(frozen=True)
class CalculatorSettings:
    """The controller-manager flags that shape the arithmetic, with Kubernetes' defaults.

    ``tolerance`` is ``--horizontal-pod-autoscaler-tolerance``; the per-direction overrides are
    ``behavior.scaleUp.tolerance`` / ``behavior.scaleDown.tolerance`` (KEP-4951, alpha in 1.33).
    """

    tolerance: float = 0.1
    scale_up_tolerance: float | None = None
    scale_down_tolerance: float | None = None
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0

    def within_tolerance(self, ratio: float) -> bool:
        """True when ``ratio`` is too close to 1 to act on (Kubernetes' ``Tolerances.isWithin``)."""
        down = self.tolerance if self.scale_down_tolerance is None else self.scale_down_tolerance
        up = self.tolerance if self.scale_up_tolerance is None else self.scale_up_tolerance
        return 1.0 - down <= ratio <= 1.0 + up


DEFAULT_SETTINGS = CalculatorSettings()


class PodSample(NamedTuple):
    """One pod the HPA selector matched, with its sample of the metric being computed.

    A named tuple, not a dataclass: a replay builds one per pod per sync, and tuples are built
    several times faster.

    ``ready`` is the Ready condition's status (an ``Unknown`` status counts as not ready here);
    ``ready_changed_s`` is that condition's lastTransitionTime, ``None`` when the pod has no
    Ready condition at all. ``request`` is the summed request of the metric's resource over the
    containers that count (``None`` when one of them has none); ``value`` is the pod's sample
    (``None`` when the metrics API returned none). ``sample_s`` and ``window_s`` are the
    sample's timestamp and window (``None``: no timestamp, which reads as stale).
    """

    name: str
    phase: PodPhase = "Running"
    ready: bool = True
    start_s: float | None = None
    ready_changed_s: float | None = None
    deleting: bool = False
    request: int | None = None
    value: int | None = None
    sample_s: float | None = None
    window_s: float = 60.0


@dataclass(frozen=True)
class PodGroups:
    """How Kubernetes sorts pods before averaging (``groupPods``)."""

    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


@dataclass(frozen=True)
class Recommendation:
    """A metric's replica proposal and the current value Kubernetes reports in the HPA status.

    ``usage`` is the utilization in percent of request for Utilization targets and the
    (average or total) milli-value otherwise; ``average_value`` is the average milli-value per
    counted pod, which Utilization targets also report.
    """

    replicas: int
    usage: int
    average_value: int | None = None


def group_pods(
    pods: Sequence[PodSample],
    now_s: float,
    *,
    cpu: bool,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> PodGroups:
    """Sort pods into ready, unready, missing and ignored, as Kubernetes' ``groupPods`` does.

    Only CPU samples are distrusted around start-up (JIT warm-up and init work burn CPU that
    says nothing about load), so the readiness timing rules apply only when ``cpu`` is set.
    """
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
        elif pod.phase == "Pending":
            unready.add(pod.name)
        elif pod.value is None:
            missing.add(pod.name)
        elif cpu and _cpu_sample_untrusted(pod, now_s, settings):
            unready.add(pod.name)
        else:
            ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_sample_untrusted(pod: PodSample, now_s: float, settings: CalculatorSettings) -> bool:
    if pod.ready_changed_s is None or pod.start_s is None:
        return True
    if pod.start_s + settings.cpu_initialization_period_s > now_s:
        # Still initialising: trust only a ready pod whose sample covers a full window since
        # it last changed readiness.
        stale = pod.sample_s is None or pod.sample_s < pod.ready_changed_s + pod.window_s
        return not pod.ready or stale
    # Past initialisation: distrust only a pod that has never been ready.
    return not pod.ready and pod.start_s + settings.initial_readiness_delay_s > pod.ready_changed_s


def resource_utilization_replicas(
    pods: Sequence[PodSample],
    current_replicas: int,
    target_utilization: int,
    now_s: float,
    *,
    cpu: bool = True,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for a Resource / ContainerResource metric with a Utilization target (percent).

    ``usage`` of the result is the utilization of the counted pods in percent of their requests
    (what Kubernetes reports, computed before missing and unready pods are filled in).
    """
    if not pods:
        raise NoPodsError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, now_s, cpu=cpu, settings=settings)
    samples = _usable_samples(pods, groups)
    if not samples:
        raise NoMetricsError("did not receive metrics for targeted pods (pods might be unready)")
    requests = _requests(pods)

    ratio, utilization, average = _utilization_ratio(samples, requests, target_utilization)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if settings.within_tolerance(ratio):
            return Recommendation(current_replicas, utilization, average)
        return Recommendation(_ceil_replicas(ratio * groups.ready_count), utilization, average)

    if groups.missing:
        if ratio < 1.0:
            fallback_percent = max(100, target_utilization)
            for name in groups.missing:
                samples[name] = requests[name] * fallback_percent // 100
        elif ratio > 1.0:
            for name in groups.missing:
                samples[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            samples[name] = 0

    new_ratio, _, _ = _utilization_ratio(samples, requests, target_utilization)
    replicas = _conservative_replicas(current_replicas, ratio, new_ratio, len(samples), settings)
    return Recommendation(replicas, utilization, average)


def resource_average_value_replicas(
    pods: Sequence[PodSample],
    current_replicas: int,
    target_average_value: int,
    now_s: float,
    *,
    cpu: bool = True,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for a Resource metric with an AverageValue target (milli-units per pod)."""
    groups = _grouped(pods, now_s, cpu=cpu, settings=settings)
    return _plain_metric_replicas(pods, groups, current_replicas, target_average_value, settings)


def pods_metric_replicas(
    pods: Sequence[PodSample],
    current_replicas: int,
    target_average_value: int,
    *,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for a Pods metric (AverageValue per pod); no start-up rules, so no clock."""
    groups = _grouped(pods, 0.0, cpu=False, settings=settings)
    return _plain_metric_replicas(pods, groups, current_replicas, target_average_value, settings)


def object_metric_replicas(
    value: int,
    current_replicas: int,
    target_value: int,
    pods: Sequence[PodSample],
    *,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for an Object metric with a Value target: scale the Running+Ready pods."""
    return _ratio_replicas(value, float(value) / target_value, current_replicas, pods, settings)


def object_average_value_replicas(
    value: int,
    status_replicas: int,
    target_average_value: int,
    *,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for an Object metric with an AverageValue target; ``usage`` is per replica."""
    replicas = _average_value_replicas(value, status_replicas, target_average_value, settings)
    return Recommendation(replicas, _per_replica(value, status_replicas))


def external_metric_replicas(
    values: Sequence[int],
    current_replicas: int,
    target_value: int,
    pods: Sequence[PodSample],
    *,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for an External metric with a Value target; the series' values are summed."""
    total = _saturating_sum(values)
    return _ratio_replicas(total, float(total) / target_value, current_replicas, pods, settings)


def external_average_value_replicas(
    values: Sequence[int],
    status_replicas: int,
    target_average_value: int,
    *,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Replicas for an External metric with an AverageValue target; ``usage`` is per replica."""
    total = _saturating_sum(values)
    replicas = _average_value_replicas(total, status_replicas, target_average_value, settings)
    return Recommendation(replicas, _per_replica(total, status_replicas))


def count_ready_pods(pods: Sequence[PodSample]) -> int:
    """Pods that are Running with Ready=True; terminating pods still count, as in Kubernetes."""
    return sum(1 for pod in pods if pod.phase == "Running" and pod.ready)


def _grouped(
    pods: Sequence[PodSample], now_s: float, *, cpu: bool, settings: CalculatorSettings
) -> PodGroups:
    if not pods:
        raise NoPodsError("no pods returned by selector while calculating replica count")
    return group_pods(pods, now_s, cpu=cpu, settings=settings)


def _plain_metric_replicas(
    pods: Sequence[PodSample],
    groups: PodGroups,
    current_replicas: int,
    target: int,
    settings: CalculatorSettings,
) -> Recommendation:
    samples = _usable_samples(pods, groups)
    if not samples:
        raise NoMetricsError("did not receive metrics for targeted pods (pods might be unready)")

    ratio, usage = _usage_ratio(samples, target)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if settings.within_tolerance(ratio):
            return Recommendation(current_replicas, usage)
        return Recommendation(_ceil_replicas(ratio * groups.ready_count), usage)

    if groups.missing:
        if ratio < 1.0:
            for name in groups.missing:
                samples[name] = target
        elif ratio > 1.0:
            for name in groups.missing:
                samples[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            samples[name] = 0

    new_ratio, _ = _usage_ratio(samples, target)
    replicas = _conservative_replicas(current_replicas, ratio, new_ratio, len(samples), settings)
    return Recommendation(replicas, usage)


def _conservative_replicas(
    current: int, ratio: float, new_ratio: float, counted: int, settings: CalculatorSettings
) -> int:
    """The second pass, after missing/unready pods were filled in: act only if still sure."""
    flipped = (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)
    if settings.within_tolerance(new_ratio) or flipped:
        return current
    replicas = _ceil_replicas(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def _usable_samples(pods: Sequence[PodSample], groups: PodGroups) -> dict[str, int]:
    excluded = groups.unready | groups.ignored
    return {p.name: p.value for p in pods if p.value is not None and p.name not in excluded}


def _requests(pods: Sequence[PodSample]) -> dict[str, int]:
    """Every matched pod's request, ignored ones included (Kubernetes checks them all)."""
    requests: dict[str, int] = {}
    for pod in pods:
        if pod.request is None:
            raise MissingRequestError(f"missing request for the resource in pod {pod.name}")
        requests[pod.name] = pod.request
    return requests


def _utilization_ratio(
    samples: Mapping[str, int], requests: Mapping[str, int], target_utilization: int
) -> tuple[float, int, int]:
    usage = sum(samples.values())
    requested = sum(requests[name] for name in samples)
    if requested == 0:
        raise ReplicaCalculationError("the pods with metrics request none of the resource")
    utilization = _trunc_div(usage * 100, requested)
    return utilization / target_utilization, utilization, _trunc_div(usage, len(samples))


def _usage_ratio(samples: Mapping[str, int], target: int) -> tuple[float, int]:
    usage = _trunc_div(sum(samples.values()), len(samples))
    return usage / target, usage


def _ratio_replicas(
    usage: int,
    ratio: float,
    current_replicas: int,
    pods: Sequence[PodSample],
    settings: CalculatorSettings,
) -> Recommendation:
    if current_replicas == 0:
        # Scale from (or to) zero: no pods to multiply, and no tolerance band.
        return Recommendation(_ceil_replicas(ratio), usage)
    if settings.within_tolerance(ratio):
        return Recommendation(current_replicas, usage)
    if not pods:
        raise NoPodsError("no pods returned by selector while calculating replica count")
    return Recommendation(_ceil_replicas(ratio * count_ready_pods(pods)), usage)


def _average_value_replicas(
    total: int, status_replicas: int, target_average_value: int, settings: CalculatorSettings
) -> int:
    capacity = float(target_average_value) * status_replicas
    ratio = float(total) / capacity if capacity else math.inf
    if settings.within_tolerance(ratio):
        return status_replicas
    return _ceil_replicas(float(total) / float(target_average_value))


def _per_replica(total: int, status_replicas: int) -> int:
    """The per-replica value Kubernetes reports; with no replicas, the total stands in."""
    if float(total) >= float(MAX_MILLI_VALUE):
        return MAX_MILLI_VALUE
    return math.ceil(float(total) / status_replicas) if status_replicas else total


def _saturating_sum(values: Sequence[int]) -> int:
    return min(sum(values), MAX_MILLI_VALUE)


def _ceil_replicas(proposal: float) -> int:
    return MAX_REPLICAS if proposal > MAX_REPLICAS else math.ceil(proposal)


def _trunc_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero, as Go's ``/`` on int64 does."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
