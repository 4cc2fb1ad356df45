"""The HorizontalPodAutoscaler, exactly as Kubernetes' autoscaling/v2 controller.

One object per scale target: every metric proposes a replica count through Kubernetes'
replica calculator (``replica_calculator``), the highest proposal wins, and the behaviour
rules (``behavior``: stabilisation, rate limits, min/max) turn it into the count to set. As
in Kubernetes, if some metrics fail and the rest propose a scale-down, nothing changes; if
all fail, nothing changes either. The controller's memory (recommendations and scale events)
is an explicit field, so the object can be rebuilt from its status after a restart.

``HpaController`` runs one such object per twin workload, on CPU utilisation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from tidewise.model import ClusterView, Decision, ScaleTo, WorkloadStatus
from tidewise.scaling.behavior import HpaBehavior, ScaleDecision, ScalingHistory, reconcile
from tidewise.scaling.metrics import Metric, MetricsSource, propose
from tidewise.scaling.observation import STARTING_CPU_FRACTION
from tidewise.scaling.replica_calculator import (
    DEFAULT_SETTINGS,
    CalculatorSettings,
    PodSample,
    ReplicaCalculationError,
)

SYNC_PERIOD_S = 15.0  # --horizontal-pod-autoscaler-sync-period
READY_CACHE_SIZE = 4096
MEMO_SIZE = 4096


@dataclass
class HorizontalPodAutoscaler:
    min_replicas: int
    max_replicas: int
    metrics: tuple[Metric, ...]
    behavior: HpaBehavior | None = None  # None: no spec.behavior (Kubernetes' legacy rules)
    settings: CalculatorSettings = DEFAULT_SETTINGS
    history: ScalingHistory = field(default_factory=ScalingHistory)
    _memo: dict[Hashable, int | None] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def on_cpu(
        cls,
        min_replicas: int,
        max_replicas: int,
        target_utilization: float,
        behavior: HpaBehavior | None = None,
    ) -> HorizontalPodAutoscaler:
        """The common HPA: CPU utilisation at ``target_utilization`` (a fraction)."""
        metric = Metric.cpu_utilization(round(100 * target_utilization))
        return cls(min_replicas, max_replicas, (metric,), behavior)

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= minReplicas <= maxReplicas")
        if not self.metrics:
            raise ValueError("an HPA needs at least one metric")

    def proposal(self, source: MetricsSource, current: int, now_s: float) -> int | None:
        """The highest replica count the metrics ask for, or None when they say nothing.

        A source with a ``fingerprint()`` (equal for observations that give every metric the
        same answer at any time) gets the earlier answer back: the twin's counts repeat for
        several syncs in a row.
        """
        fingerprint = getattr(source, "fingerprint", None)  # isinstance on a Protocol is slow
        if fingerprint is None:
            return self._propose(source, current, now_s)
        key = (fingerprint(), current)
        if key not in self._memo:
            if len(self._memo) > MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = self._propose(source, current, now_s)
        return self._memo[key]

    def _propose(self, source: MetricsSource, current: int, now_s: float) -> int | None:
        proposals = []
        failed = False
        for metric in self.metrics:
            try:
                proposals.append(propose(metric, source, current, now_s, self.settings).replicas)
            except ReplicaCalculationError:
                failed = True
        if not proposals or (failed and max(proposals) < current):
            return None
        return max(proposals)

    def settle(self, now_s: float, current: int, desired: int, floor: int = 0) -> ScaleDecision:
        """Apply the behaviour rules to ``desired``; ``floor`` raises minReplicas (a cron
        floor acts through the HPA's minimum, as the CronHPA controller does)."""
        low = max(self.min_replicas, floor)
        decision = reconcile(
            self.history,
            now_s,
            current,
            desired,
            low,
            max(self.max_replicas, low),
            self.behavior,
        )
        self.history = decision.history
        return decision


@dataclass(frozen=True)
class StatusMetrics:
    """A twin workload's pods as metrics-server would report their CPU.

    The twin knows counts, not pods: Ready pods are taken as Ready long ago (past the CPU
    initialisation period), share the load evenly and burn CPU in
    proportion to it (at the request when serving at capacity); starting pods are Running
    and not Ready (inside the CPU initialisation period, so Kubernetes ignores them);
    pending pods are Pending. Object and External metrics read the twin's named series
    (``value``), so a custom-metric HPA (a Prometheus query in production) runs here too.
    """

    status: WorkloadStatus
    now_s: float
    ready_cache: dict[tuple[int, int, int], tuple[PodSample, ...]] | None = None

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        request = self.status.spec.requests.cpu_milli
        busy = round(request * (self.status.utilization or 0.0))
        key = (self.status.ready, request, busy)
        ready = None if self.ready_cache is None else self.ready_cache.get(key)
        if ready is None:
            # Ready since long before any sync: the samples do not depend on the time, so a
            # controller may keep them while the load and the count stay the same
            ready = tuple(
                PodSample(
                    f"ready-{i}", "Running", True, -math.inf, -math.inf, False, request, busy, None
                )
                for i in range(self.status.ready)
            )
            if self.ready_cache is not None:
                if len(self.ready_cache) > READY_CACHE_SIZE:
                    self.ready_cache.clear()
                self.ready_cache[key] = ready
        samples = list(ready)
        samples += [
            PodSample(
                f"starting-{i}",
                "Running",
                False,
                self.now_s,
                self.now_s,
                False,
                request,
                round(request * STARTING_CPU_FRACTION),
                self.now_s,
            )
            for i in range(self.status.starting)
        ]
        samples += [
            PodSample(f"pending-{i}", "Pending", False, None, None, False, request, None)
            for i in range(self.status.pending)
        ]
        return samples

    def fingerprint(self) -> Hashable:
        """Starting pods are always inside their CPU initialisation period here and Ready
        ones long past it, so the counts and the load decide every answer."""
        s = self.status
        return (s.ready, s.starting, s.pending, s.spec.requests.cpu_milli, s.demand_rps)

    def value(self, metric: Metric) -> int:
        """The twin's named series, in milli-units; a query must name one of them."""
        series = {
            "requests_per_second": self.status.demand_rps,
            "ready_replicas": float(self.status.ready),
        }
        name = metric.query or metric.name
        if name not in series:
            raise ReplicaCalculationError(
                f"the twin has no series {name!r}; it offers {', '.join(series)}"
            )
        return round(1000 * series[name])


@dataclass
class HpaController:
    """The twin's reactive scaler: an HPA per workload, legacy behaviour; on CPU utilisation
    at the workload's target unless ``metrics`` says otherwise."""

    period_s: float = SYNC_PERIOD_S
    behavior: HpaBehavior | None = None
    metrics: tuple[Metric, ...] | None = None
    _hpas: dict[str, HorizontalPodAutoscaler] = field(default_factory=dict, init=False)
    _ready: dict[tuple[int, int, int], tuple[PodSample, ...]] = field(
        default_factory=dict, init=False
    )

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        decisions: list[Decision] = []
        for status in view.workloads:
            spec = status.spec
            hpa = self._hpas.get(spec.name)
            if hpa is None:
                hpa = self._hpas[spec.name] = (
                    HorizontalPodAutoscaler(
                        spec.min_replicas, spec.max_replicas, self.metrics, self.behavior
                    )
                    if self.metrics
                    else HorizontalPodAutoscaler.on_cpu(
                        spec.min_replicas,
                        spec.max_replicas,
                        spec.target_utilization,
                        self.behavior,
                    )
                )
            current = status.desired
            source = StatusMetrics(status, view.time_s, self._ready)
            desired = hpa.proposal(source, current, view.time_s)
            if desired is None:
                continue  # Kubernetes reports the metric error and leaves the target alone
            decision = hpa.settle(view.time_s, current, desired)
            if decision.replicas != current:
                decisions.append(ScaleTo(spec.name, decision.replicas))
        return decisions
