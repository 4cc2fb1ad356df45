"""Resource right-sizing: how much CPU and memory each container should request (pure policy).

This is the Kubernetes VPA recommender's algorithm, re-implemented in our units from
kubernetes/autoscaler ``vertical-pod-autoscaler/pkg/recommender``: ``util/histogram.go``,
``util/histogram_options.go`` and ``util/decaying_histogram.go`` (the histogram),
``model/aggregations_config.go`` (the defaults), ``model/aggregate_container_state.go`` and
``model/container.go`` (what goes into the histograms), ``logic/estimator.go`` and
``logic/recommender.go`` (how a recommendation is read out of them).

Every CPU usage sample goes into a decaying histogram; memory goes in as one peak per pod per
24 h interval, because memory that was needed once must be there again while CPU can be
throttled. A recommendation is a percentile of each plus a safety margin, with bounds widened
while there is little history, floored per pod and clamped by an optional container policy.
Time is the caller's, in seconds; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

MIB = 1024 * 1024
# Renormalise a decaying histogram before its weights pass 2**100 (VPA's maxDecayExponent).
_MAX_DECAY_EXPONENT = 100
# Cloud price pages quote a month as 730 hours (365 * 24 / 12).
HOURS_PER_MONTH = 730.0
# Recommendations are rounded up to whole units; float noise in bucket boundaries must not add
# a whole millicore or MiB, so values are first rounded to this many decimals.
_ROUNDING_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class RightsizingSettings:
    """The recommender's parameters; the defaults are VPA's.

    Histogram ranges are VPA's, in our units: CPU from a first bucket of 10 millicores (0.01
    core) up to 1000 cores, memory from 10 MB (1e7 bytes) up to 1 TB (1e12 bytes) expressed in
    MiB so that the bucket boundaries are exactly VPA's; each bucket 5 % wider than the one
    before. ``confidence_interval_s`` also fixes the expected sampling rate: a history of one
    interval at one sample a minute has confidence 1.

    Every CPU sample weighs ``cpu_sample_weight``: VPA's code weighs it max(request, 0.1), but
    the request it passes is always zero (kubernetes/autoscaler#7818), so 0.1 is what runs.
    """

    cpu_first_bucket_milli: float = 10.0
    cpu_max_milli: float = 1000.0 * 1000
    memory_first_bucket_mib: float = 1e7 / MIB
    memory_max_mib: float = 1e12 / MIB
    bucket_growth: float = 0.05
    cpu_half_life_s: float = 24 * 3600.0
    memory_half_life_s: float = 24 * 3600.0
    cpu_sample_weight: float = 0.1
    memory_peak_weight: float = 1.0
    histogram_epsilon: float = 0.001 * 0.1
    memory_interval_s: float = 24 * 3600.0
    memory_interval_count: int = 8
    target_percentile: float = 0.9
    lower_bound_percentile: float = 0.5
    upper_bound_percentile: float = 0.95
    safety_margin: float = 0.15
    confidence_interval_s: float = 24 * 3600.0
    upper_confidence_multiplier: float = 1.0
    upper_confidence_exponent: float = 1.0
    lower_confidence_multiplier: float = 0.001
    lower_confidence_exponent: float = -2.0
    pod_min_cpu_milli: float = 25.0
    pod_min_memory_mib: float = 250.0
    oom_bump_ratio: float = 1.2
    oom_min_bump_mib: float = 100.0

    def __post_init__(self) -> None:
        positive = (
            "cpu_first_bucket_milli",
            "cpu_max_milli",
            "memory_first_bucket_mib",
            "memory_max_mib",
            "bucket_growth",
            "cpu_half_life_s",
            "memory_half_life_s",
            "cpu_sample_weight",
            "memory_peak_weight",
            "histogram_epsilon",
            "memory_interval_s",
            "memory_interval_count",
            "confidence_interval_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("target_percentile", "lower_bound_percentile", "upper_bound_percentile"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if not (
            self.lower_bound_percentile <= self.target_percentile <= self.upper_bound_percentile
        ):
            raise ValueError("percentiles must be ordered: lower bound <= target <= upper bound")
        if self.oom_bump_ratio < 1 or self.oom_min_bump_mib < 0:
            raise ValueError("an OOM must never lower the memory estimate")


class ExponentialBuckets:
    """Bucket boundaries growing geometrically, so the relative error is the same at any size.

    Bucket 0 is ``[0, first)``; bucket ``n`` is ``first * ratio**n`` wide and so starts at
    ``first * (ratio**n - 1) / (ratio - 1)``. The last bucket starts at or above ``max_value``
    and is open-ended.
    """

    def __init__(self, first_bucket_size: float, max_value: float, ratio: float) -> None:
        if first_bucket_size <= 0 or max_value <= 0 or ratio <= 1:
            raise ValueError("bucket sizes must be > 0 and the growth ratio > 1")
        count = math.ceil(math.log(max_value * (ratio - 1) / first_bucket_size + 1, ratio)) + 1
        powers = ratio ** np.arange(count, dtype=np.float64)
        self.starts: npt.NDArray[np.float64] = first_bucket_size * (powers - 1) / (ratio - 1)
        self.starts.flags.writeable = False

    def __len__(self) -> int:
        return len(self.starts)

    def index(self, value: float) -> int:
        """VPA inverts the start formula with a logarithm; searching the stored boundaries
        instead puts a value on a boundary in the bucket it starts, whatever the rounding."""
        return max(int(np.searchsorted(self.starts, value, side="right")) - 1, 0)

    def end(self, index: int) -> float:
        """The open-ended last bucket has no end; its start stands in for it."""
        return float(self.starts[min(index + 1, len(self.starts) - 1)])


class DecayingHistogram:
    """A weighted histogram in which a sample counts twice as much as one a half-life older.

    As in VPA, a weight is stored multiplied by ``2**((t - reference) / half_life)`` rather than
    decaying what is stored: only ratios of weights matter to percentiles. When a sample would
    land more than 2**100 above the reference, the reference moves to that sample's time
    (rounded to a whole number of half-lives) and the stored weights are scaled down by the
    same power of two, so runs of any length stay within float range. A bucket lighter than
    ``epsilon`` counts as empty.
    """

    def __init__(self, buckets: ExponentialBuckets, half_life_s: float, epsilon: float) -> None:
        if half_life_s <= 0 or epsilon <= 0:
            raise ValueError("the half-life and epsilon must be > 0")
        self.buckets = buckets
        self.half_life_s = half_life_s
        self.epsilon = epsilon
        self._weights = np.zeros(len(buckets), dtype=np.float64)
        self._reference_s = 0.0

    def add(self, value: float, weight: float, t_s: float) -> None:
        if weight < 0:
            raise ValueError(f"a sample weight must be >= 0, got {weight}")
        # The factor first: it may rescale the weights, which an in-place += would undo.
        decayed = weight * self._decay_factor(t_s)
        self._weights[self.buckets.index(value)] += decayed

    def subtract(self, value: float, weight: float, t_s: float) -> None:
        """Take back a sample added with the same value, weight and time (an outgrown peak)."""
        decayed = weight * self._decay_factor(t_s)
        bucket = self.buckets.index(value)
        left = self._weights[bucket] - decayed
        self._weights[bucket] = left if left >= self.epsilon else 0.0

    def percentile(self, fraction: float) -> float:
        """The end of the first bucket at which the cumulative weight reaches ``fraction`` of
        the total (0 when empty): reading a bucket's end rather than its middle errs towards
        more, which is the safe side for a request."""
        occupied = np.flatnonzero(self._weights >= self.epsilon)
        if occupied.size == 0:
            return 0.0
        first, last = int(occupied[0]), int(occupied[-1])
        cumulative = np.cumsum(self._weights[first : last + 1])
        threshold = fraction * float(self._weights.sum())
        offset = int(np.searchsorted(cumulative, threshold, side="left"))
        return self.buckets.end(first + min(offset, last - first))

    def _decay_factor(self, t_s: float) -> float:
        if t_s > self._reference_s + _MAX_DECAY_EXPONENT * self.half_life_s:
            self._move_reference(t_s)
        return 2.0 ** ((t_s - self._reference_s) / self.half_life_s)

    def _move_reference(self, t_s: float) -> None:
        reference = math.floor(t_s / self.half_life_s + 0.5) * self.half_life_s
        halvings = round((self._reference_s - reference) / self.half_life_s)
        self._weights *= math.ldexp(1.0, halvings)
        self._reference_s = reference


@dataclass(frozen=True, slots=True)
class ContainerKey:
    """What a recommendation is for: one container of a workload, over all its pods."""

    workload: str
    container: str


@dataclass(frozen=True, slots=True)
class ContainerPolicy:
    """Bounds an operator puts on a container's recommendation (VPA's min/maxAllowed)."""

    min_cpu_milli: int | None = None
    max_cpu_milli: int | None = None
    min_memory_mib: int | None = None
    max_memory_mib: int | None = None

    def __post_init__(self) -> None:
        for low, high in (
            (self.min_cpu_milli, self.max_cpu_milli),
            (self.min_memory_mib, self.max_memory_mib),
        ):
            if low is not None and high is not None and low > high:
                raise ValueError(f"a minimum ({low}) above its maximum ({high})")


@dataclass(frozen=True, slots=True)
class Estimate:
    """One resource's recommendation. ``upper`` is ``None`` while there is no history to bound
    it (VPA's infinite upper bound); evicting a pod for being above it would be premature."""

    lower: int
    target: int
    upper: int | None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Per container: CPU in millicores, memory in MiB, and the confidence of the bounds
    (about the days of history at one sample a minute)."""

    cpu_milli: Estimate
    memory_mib: Estimate
    confidence: float


@dataclass
class _Aggregate:
    """All pods' history of one container; first/last/count follow CPU samples, as in VPA."""

    cpu: DecayingHistogram
    memory: DecayingHistogram
    first_cpu_s: float | None = None
    last_cpu_s: float | None = None
    cpu_samples: int = 0


@dataclass
class _Instance:
    """One pod's container: sample ordering and the memory peak of its current interval."""

    last_cpu_s: float | None = None
    last_memory_s: float | None = None
    window_end_s: float | None = None
    usage_peak_mib: float = 0.0
    oom_peak_mib: float = 0.0


@dataclass
class ResourceRecommender:
    """VPA's recommender, fed by the caller with usage samples and OOM events.

    Samples for one pod must come in time order: as in VPA, a CPU sample not later than the
    pod's previous one and a memory sample earlier than it are dropped. ``pod`` tells apart
    the replicas of one container, each of which contributes its own memory peaks.
    """

    settings: RightsizingSettings = field(default_factory=RightsizingSettings)
    _cpu_buckets: ExponentialBuckets = field(init=False)
    _memory_buckets: ExponentialBuckets = field(init=False)
    _aggregates: dict[ContainerKey, _Aggregate] = field(default_factory=dict, init=False)
    _instances: dict[tuple[ContainerKey, str], _Instance] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        ratio = 1 + s.bucket_growth
        self._cpu_buckets = ExponentialBuckets(s.cpu_first_bucket_milli, s.cpu_max_milli, ratio)
        self._memory_buckets = ExponentialBuckets(
            s.memory_first_bucket_mib, s.memory_max_mib, ratio
        )

    def add_usage(
        self,
        container_key: ContainerKey,
        t_s: float,
        cpu_milli: float,
        memory_mib: float,
        *,
        pod: str = "",
    ) -> None:
        if cpu_milli < 0 or memory_mib < 0:
            raise ValueError("usage must be >= 0")
        aggregate = self._aggregate(container_key)
        instance = self._instances.setdefault((container_key, pod), _Instance())
        if instance.last_cpu_s is None or t_s > instance.last_cpu_s:
            instance.last_cpu_s = t_s
            aggregate.cpu.add(cpu_milli, self.settings.cpu_sample_weight, t_s)
            if aggregate.first_cpu_s is None or t_s < aggregate.first_cpu_s:
                aggregate.first_cpu_s = t_s
            if aggregate.last_cpu_s is None or t_s > aggregate.last_cpu_s:
                aggregate.last_cpu_s = t_s
            aggregate.cpu_samples += 1
        if instance.last_memory_s is None or t_s >= instance.last_memory_s:
            self._add_memory_peak(aggregate, instance, t_s, memory_mib, oom=False)

    def add_oom(
        self, container_key: ContainerKey, t_s: float, memory_mib: float, *, pod: str = ""
    ) -> None:
        """An OOM kill at ``memory_mib`` (usage or limit when killed) shows the container needs
        more than it had: its interval peak becomes max(ratio x used, used + minimum bump),
        where used also covers the usage peak seen so far in the interval. OOMs older than the
        previous interval are dropped."""
        s = self.settings
        aggregate = self._aggregate(container_key)
        instance = self._instances.setdefault((container_key, pod), _Instance())
        if instance.window_end_s is not None and t_s < instance.window_end_s - s.memory_interval_s:
            return
        used = max(memory_mib, instance.usage_peak_mib)
        needed = max(used * s.oom_bump_ratio, used + s.oom_min_bump_mib)
        self._add_memory_peak(aggregate, instance, t_s, needed, oom=True)

    def recommend(
        self, container_key: ContainerKey, t_s: float, policy: ContainerPolicy | None = None
    ) -> Recommendation:
        """Raises ``KeyError`` for a container with no CPU sample within the memory window
        (8 days) before ``t_s``: VPA forgets such containers."""
        s = self.settings
        if not self._is_live(container_key, t_s):
            raise KeyError(f"no recent usage for {container_key}")
        aggregate = self._aggregates[container_key]
        containers_per_pod = sum(
            1
            for key in self._aggregates
            if key.workload == container_key.workload and self._is_live(key, t_s)
        )
        confidence = self._confidence(aggregate)
        policy = policy or ContainerPolicy()
        cpu = self._estimate(
            aggregate.cpu,
            confidence,
            s.pod_min_cpu_milli / containers_per_pod,
            policy.min_cpu_milli,
            policy.max_cpu_milli,
        )
        memory = self._estimate(
            aggregate.memory,
            confidence,
            s.pod_min_memory_mib / containers_per_pod,
            policy.min_memory_mib,
            policy.max_memory_mib,
        )
        return Recommendation(cpu, memory, confidence)

    def _aggregate(self, key: ContainerKey) -> _Aggregate:
        if key not in self._aggregates:
            s = self.settings
            self._aggregates[key] = _Aggregate(
                DecayingHistogram(self._cpu_buckets, s.cpu_half_life_s, s.histogram_epsilon),
                DecayingHistogram(self._memory_buckets, s.memory_half_life_s, s.histogram_epsilon),
            )
        return self._aggregates[key]

    def _is_live(self, key: ContainerKey, t_s: float) -> bool:
        aggregate = self._aggregates.get(key)
        if aggregate is None or aggregate.last_cpu_s is None:
            return False
        window_s = self.settings.memory_interval_s * self.settings.memory_interval_count
        return t_s - aggregate.last_cpu_s < window_s

    def _add_memory_peak(
        self, aggregate: _Aggregate, instance: _Instance, t_s: float, mib: float, *, oom: bool
    ) -> None:
        """One sample per pod and interval, dated at the interval's end: a higher value within
        the interval replaces the peak recorded so far; the first value in a later interval
        opens that interval. Intervals are aligned on the pod's first memory sample."""
        weight = self.settings.memory_peak_weight
        interval_s = self.settings.memory_interval_s
        instance.last_memory_s = t_s
        if instance.window_end_s is None:
            instance.window_end_s = t_s
        if t_s < instance.window_end_s:
            peak = max(instance.usage_peak_mib, instance.oom_peak_mib)
            if mib <= peak:
                return
            aggregate.memory.subtract(peak, weight, instance.window_end_s)
        else:
            passed = math.floor((t_s - instance.window_end_s) / interval_s)
            instance.window_end_s += (passed + 1) * interval_s
            instance.usage_peak_mib = instance.oom_peak_mib = 0.0
        aggregate.memory.add(mib, weight, instance.window_end_s)
        if oom:
            instance.oom_peak_mib = mib
        else:
            instance.usage_peak_mib = mib

    def _confidence(self, aggregate: _Aggregate) -> float:
        """min(history span, sample count at one a minute), both in confidence intervals."""
        assert aggregate.first_cpu_s is not None and aggregate.last_cpu_s is not None
        interval_s = self.settings.confidence_interval_s
        span = (aggregate.last_cpu_s - aggregate.first_cpu_s) / interval_s
        return min(span, aggregate.cpu_samples / (interval_s / 60))

    def _estimate(
        self,
        histogram: DecayingHistogram,
        confidence: float,
        floor: float,
        minimum: int | None,
        maximum: int | None,
    ) -> Estimate:
        s = self.settings
        margin = 1 + s.safety_margin
        values = [
            histogram.percentile(s.lower_bound_percentile)
            * margin
            * _confidence_factor(
                confidence, s.lower_confidence_multiplier, s.lower_confidence_exponent
            ),
            histogram.percentile(s.target_percentile) * margin,
            histogram.percentile(s.upper_bound_percentile)
            * margin
            * _confidence_factor(
                confidence, s.upper_confidence_multiplier, s.upper_confidence_exponent
            ),
        ]
        values = [max(v, floor) for v in values]
        if minimum is not None:
            values = [max(v, minimum) for v in values]
        if maximum is not None:
            values = [min(v, maximum) for v in values]
        lower, target, upper = values
        return Estimate(
            _round_up(lower), _round_up(target), None if math.isinf(upper) else _round_up(upper)
        )


def _confidence_factor(confidence: float, multiplier: float, exponent: float) -> float:
    """(1 + multiplier / confidence) ** exponent: infinite or zero without history."""
    ratio = math.inf if confidence == 0 else multiplier / confidence
    return (1 + ratio) ** exponent


def _round_up(value: float) -> int:
    return math.ceil(round(value, _ROUNDING_DECIMALS))


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """What a container requests now, per pod, and how many pods run it."""

    key: ContainerKey
    replicas: int
    cpu_milli: int
    memory_mib: int

    def __post_init__(self) -> None:
        if self.replicas < 0 or self.cpu_milli < 0 or self.memory_mib < 0:
            raise ValueError("replicas and requests must be >= 0")


@dataclass(frozen=True, slots=True)
class ContainerRightsizing:
    """One container's request against its recommended target. Reclaimable and
    under-requested amounts are totals over its replicas; each is zero or positive."""

    key: ContainerKey
    replicas: int
    requested_cpu_milli: int
    target_cpu_milli: int
    requested_memory_mib: int
    target_memory_mib: int
    reclaimable_cpu_milli: int
    reclaimable_memory_mib: int
    reclaimable_usd_per_hour: float
    under_requested_cpu_milli: int
    under_requested_memory_mib: int
    under_requested_usd_per_hour: float


@dataclass(frozen=True, slots=True)
class RightsizingReport:
    """What right-sizing would reclaim, and where requests are below the recommendation.

    Under-requested capacity is a risk (throttling, OOM kills, noisy neighbours), not a saving:
    it is kept apart and never netted against what is reclaimed. Its dollars are what raising
    those requests would cost. ``without_recommendation`` lists containers with no history.
    """

    containers: tuple[ContainerRightsizing, ...]
    reclaimable_cpu_milli: int
    reclaimable_memory_mib: int
    reclaimable_usd_per_hour: float
    reclaimable_usd_per_month: float
    under_requested_cpu_milli: int
    under_requested_memory_mib: int
    under_requested_usd_per_hour: float
    under_requested: tuple[ContainerKey, ...]
    without_recommendation: tuple[ContainerKey, ...]


def rightsizing_report(
    requests: Sequence[ContainerRequest],
    recommendations: Mapping[ContainerKey, Recommendation],
    *,
    usd_per_vcpu_hour: float,
    usd_per_gib_hour: float,
) -> RightsizingReport:
    """Compare current requests with recommended targets, priced per vCPU-hour and GiB-hour."""
    if usd_per_vcpu_hour < 0 or usd_per_gib_hour < 0:
        raise ValueError("prices must be >= 0")

    def usd_per_hour(cpu_milli: int, memory_mib: int) -> float:
        return cpu_milli / 1000 * usd_per_vcpu_hour + memory_mib / 1024 * usd_per_gib_hour

    lines: list[ContainerRightsizing] = []
    missing: list[ContainerKey] = []
    for request in requests:
        recommendation = recommendations.get(request.key)
        if recommendation is None:
            missing.append(request.key)
            continue
        cpu = recommendation.cpu_milli.target
        memory = recommendation.memory_mib.target
        reclaim_cpu = max(request.cpu_milli - cpu, 0) * request.replicas
        reclaim_memory = max(request.memory_mib - memory, 0) * request.replicas
        under_cpu = max(cpu - request.cpu_milli, 0) * request.replicas
        under_memory = max(memory - request.memory_mib, 0) * request.replicas
        lines.append(
            ContainerRightsizing(
                key=request.key,
                replicas=request.replicas,
                requested_cpu_milli=request.cpu_milli,
                target_cpu_milli=cpu,
                requested_memory_mib=request.memory_mib,
                target_memory_mib=memory,
                reclaimable_cpu_milli=reclaim_cpu,
                reclaimable_memory_mib=reclaim_memory,
                reclaimable_usd_per_hour=usd_per_hour(reclaim_cpu, reclaim_memory),
                under_requested_cpu_milli=under_cpu,
                under_requested_memory_mib=under_memory,
                under_requested_usd_per_hour=usd_per_hour(under_cpu, under_memory),
            )
        )
    reclaim_usd = sum(line.reclaimable_usd_per_hour for line in lines)
    return RightsizingReport(
        containers=tuple(lines),
        reclaimable_cpu_milli=sum(line.reclaimable_cpu_milli for line in lines),
        reclaimable_memory_mib=sum(line.reclaimable_memory_mib for line in lines),
        reclaimable_usd_per_hour=reclaim_usd,
        reclaimable_usd_per_month=reclaim_usd * HOURS_PER_MONTH,
        under_requested_cpu_milli=sum(line.under_requested_cpu_milli for line in lines),
        under_requested_memory_mib=sum(line.under_requested_memory_mib for line in lines),
        under_requested_usd_per_hour=sum(line.under_requested_usd_per_hour for line in lines),
        under_requested=tuple(
            line.key
            for line in lines
            if line.under_requested_cpu_milli or line.under_requested_memory_mib
        ),
        without_recommendation=tuple(missing),
    )
