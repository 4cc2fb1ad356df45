"""tidewise's default replica policy: max(cron floor, predictive, reactive), HPA behaviour on top.

Reactive is the Kubernetes HPA proposal from the service's metrics; predictive the replicas
that carry the forecast load over the next start-up time and margin; cron the size of the
last scheduled job. The cron size raises the HPA's minimum (so it applies at once, as the
CronHPA controller does to an HPA target); the two proposals go through the HPA's behaviour
rules (stabilisation, rate limits) as extra metrics would, the way Crane's EHPA feeds its
prediction to an HPA. Each answer says which rule set the count, so a status can explain it.
With a ``Headroom``, the answer also carries the placeholder pods that hold nodes for the
forecast further ahead (the node start-up), beyond the replicas there are now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tidewise.scaling.behavior import (
    HpaBehavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)
from tidewise.scaling.cron import CronScaler
from tidewise.scaling.headroom import Headroom
from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric
from tidewise.scaling.observation import ReplicaDecision, ServiceObservation
from tidewise.scaling.predictive import PredictiveScaler
from tidewise.scaling.replica_calculator import PodSample, ReplicaCalculationError

TIDEWISE_BEHAVIOR = HpaBehavior(
    scale_down=ScalingRules(180, (ScalingPolicy(PolicyType.PERCENT, 100, 15),), SelectPolicy.MAX)
)
"""Kubernetes' defaults but a 180 s scale-down window: the forecast's noise bound holds the
headroom that the 300 s window holds for an HPA alone (measured: bench/RESULTS.md)."""
FORECAST_MARGIN_S = 120.0


@dataclass(frozen=True)
class ObservedPods:
    """A ``MetricsSource`` over an observation's pods (Resource metrics only)."""

    obs: ServiceObservation

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        return self.obs.pods

    def value(self, metric: Metric) -> int:
        raise ReplicaCalculationError(f"no value for {metric.kind} metric {metric.name}")


@dataclass
class ElasticScaler:
    hpa: HorizontalPodAutoscaler
    predictive: PredictiveScaler | None = None
    cron: CronScaler | None = None
    reactive: bool = True
    headroom: Headroom | None = None  # needs ``predictive``, with its horizon_s >= lookahead_s

    def recommend(self, obs: ServiceObservation) -> ReplicaDecision:
        decision = self._replicas(obs)
        if self.headroom is None or self.predictive is None:
            return decision
        ahead = self.predictive.replicas(obs, self.headroom.lookahead_s)
        if ahead is not None:
            ahead = min(ahead, self.hpa.max_replicas)
        # against the replicas there are now, not those just decided: the new pods take
        # their room from the placeholders by preemption, then the count follows
        placeholders = self.headroom.placeholders(ahead, obs.replicas)
        return replace(decision, placeholders=placeholders, ahead=ahead)

    def _replicas(self, obs: ServiceObservation) -> ReplicaDecision:
        proposals: dict[str, int] = {}
        if self.reactive:
            source = obs.source or ObservedPods(obs)
            reactive = self.hpa.proposal(source, obs.replicas, obs.now_s)
            if reactive is not None:
                proposals["reactive"] = reactive
        if self.predictive is not None:
            self.predictive.observe(obs)
            ahead = self.predictive.replicas(obs)
            if ahead is not None:
                proposals["predictive"] = ahead
        floor = 0
        if self.cron is not None:
            self.cron.advance(obs.wall)
            floor = self.cron.floor or 0
        if not proposals:
            if floor <= obs.replicas:
                return ReplicaDecision(obs.replicas, "no metrics")
            proposals["cron"] = floor
        rule = max(proposals, key=lambda r: proposals[r])
        desired = proposals[rule]
        decision = self.hpa.settle(obs.now_s, obs.replicas, desired, floor)
        if floor > desired and decision.replicas == max(floor, self.hpa.min_replicas):
            rule = "cron"
        elif decision.replicas != max(min(desired, self.hpa.max_replicas), self.hpa.min_replicas):
            rule = "behavior"
        return ReplicaDecision(decision.replicas, rule)


@dataclass
class CronOnly:
    """A CronHPA pointed at the workload itself: the replicas are the last job's size."""

    cron: CronScaler
    min_replicas: int = 1

    def recommend(self, obs: ServiceObservation) -> ReplicaDecision:
        self.cron.advance(obs.wall)
        if self.cron.floor is None:
            return ReplicaDecision(max(obs.replicas, self.min_replicas), "before first job")
        return ReplicaDecision(max(self.cron.floor, self.min_replicas), "cron")
