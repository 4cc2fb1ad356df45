"""The twin's replica controllers: each turns the week twin's view of its workloads into
``ScaleTo`` decisions with a policy of ``scaling``.

``FixedReplicas`` is the baseline (a static size set once), ``HpaController`` Kubernetes' HPA
per workload, ``ElasticController`` tidewise's combined policy per workload. The twin knows
replica counts, not pods: ``StatusMetrics`` reads the counts as the pods metrics-server would
report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tidewise.model import ClusterView, Decision, ScaleTo
from tidewise.scaling.behavior import HpaBehavior
from tidewise.scaling.elastic import FORECAST_MARGIN_S, TIDEWISE_BEHAVIOR, ElasticScaler
from tidewise.scaling.hpa import SYNC_PERIOD_S, HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric
from tidewise.scaling.observation import ServiceModel, ServiceObservation
from tidewise.scaling.predictive import REFIT_S, Forecast, PredictiveScaler
from tidewise.scaling.replica_calculator import PodSample
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.pod_metrics import StatusMetrics


@dataclass(frozen=True)
class FixedReplicas:
    replicas: Mapping[str, int]

    @property
    def period_s(self) -> float | None:
        return None

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        return [ScaleTo(w.spec.name, self.replicas[w.spec.name]) for w in view.workloads]


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


@dataclass
class ElasticController:
    """The combined policy for every twin workload: reactive CPU HPA plus the forecast,
    tidewise's behaviour on top (no schedule: the twin has no history to learn one from).

    With ``levels`` (a service level per workload name, ``scaling.slo``), the forecast and the
    load observed now are sized to the workload's level instead of its target utilisation;
    the HPA then keeps only its behaviour (stabilisation, rate limits), and its proposal at
    the target is a floor only where the workload asks for it (``WorkloadSpec.hpa_floor``)."""

    epoch: datetime  # the calendar instant of the twin's t = 0
    forecast: Forecast
    period_s: float = SYNC_PERIOD_S
    levels: Mapping[str, ServiceLevel] = field(default_factory=dict)
    behavior: HpaBehavior = TIDEWISE_BEHAVIOR  # on a cluster: the ElasticScaler's spec.behavior
    refit_s: float = REFIT_S  # how often the forecast's level is refreshed
    _scalers: dict[str, ElasticScaler] = field(default_factory=dict, init=False)
    _ready: dict[tuple[int, int, int], tuple[PodSample, ...]] = field(
        default_factory=dict, init=False
    )

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        decisions: list[Decision] = []
        for status in view.workloads:
            spec = status.spec
            scaler = self._scalers.get(spec.name)
            if scaler is None:
                service = ServiceModel(
                    replica_capacity=spec.rps_per_replica,
                    startup_s=spec.startup_s,
                    target_utilization=spec.target_utilization,
                    min_replicas=spec.min_replicas,
                    max_replicas=spec.max_replicas,
                    cpu_request_milli=spec.requests.cpu_milli,
                )
                level = self.levels.get(spec.name)
                hpa = HorizontalPodAutoscaler.on_cpu(
                    spec.min_replicas,
                    spec.max_replicas,
                    spec.target_utilization,
                    self.behavior,
                )
                predictive = PredictiveScaler(
                    service,
                    self.forecast,
                    lead_s=spec.startup_s + FORECAST_MARGIN_S,
                    refit_s=self.refit_s,
                    level=level,
                )
                reactive = level is None or spec.hpa_floor
                scaler = self._scalers[spec.name] = ElasticScaler(
                    hpa, predictive, reactive=reactive
                )
            obs = ServiceObservation(
                now_s=view.time_s,
                wall=self.epoch + timedelta(seconds=view.time_s),
                replicas=status.desired,
                pods=(),
                load=status.demand_rps,
                source=StatusMetrics(status, view.time_s, self._ready),
            )
            decision = scaler.recommend(obs)
            if decision.replicas != status.desired:
                decisions.append(ScaleTo(spec.name, decision.replicas))
        return decisions
