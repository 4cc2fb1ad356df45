"""The HorizontalPodAutoscaler, exactly as Kubernetes' autoscaling/v2 controller.

One object per scale target: every metric proposes a replica count through Kubernetes'
replica calculator (``replica_calculator``), the highest proposal wins, and the behaviour
rules (``behavior``: stabilisation, rate limits, min/max) turn it into the count to set. As
in Kubernetes, if some metrics fail and the rest propose a scale-down, nothing changes; if
all fail, nothing changes either. The controller's memory (recommendations and scale events)
is an explicit field, so the object can be rebuilt from its status after a restart.

The twin runs one such object per workload (``tidewise.sim.services.replicas``), the
ElasticScaler controller one per object (``tidewise.kube.controllers.elastic``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from tidewise.scaling.behavior import HpaBehavior, ScaleDecision, ScalingHistory, reconcile
from tidewise.scaling.metrics import Metric, MetricsSource, propose
from tidewise.scaling.replica_calculator import (
    DEFAULT_SETTINGS,
    CalculatorSettings,
    ReplicaCalculationError,
)

SYNC_PERIOD_S = 15.0  # --horizontal-pod-autoscaler-sync-period
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
        each = self.per_metric(source, current, now_s)
        proposals = [replicas for replicas in each.values() if replicas is not None]
        failed = len(proposals) < len(each)
        if not proposals or (failed and max(proposals) < current):
            return None
        return max(proposals)

    def per_metric(
        self, source: MetricsSource, current: int, now_s: float
    ) -> dict[Metric, int | None]:
        """Each metric's own proposal (None: it failed), in spec order: which signal is the
        most demanding, for a status to say."""
        found: dict[Metric, int | None] = {}
        for metric in self.metrics:
            try:
                found[metric] = propose(metric, source, current, now_s, self.settings).replicas
            except ReplicaCalculationError:
                found[metric] = None
        return found

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
