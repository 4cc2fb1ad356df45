"""``tidewise bench autoscale``: one service, one trace, five replica policies side by side.

- ``hpa``: Kubernetes' HPA on CPU utilisation, as ``kubectl autoscale`` creates it (no
  ``behavior``: 5-minute scale-down stabilisation, scale-up at most max(2x, 4) per sync);
- ``cron``: a CronHPA on the workload, its schedule learnt from the warm-up
  (``schedule_learning``: per weekday/weekend hour, the 95th percentile of the load);
- ``predictive``: the HPA plus a forecast of the load over start-up + margin;
- ``combined``: tidewise's default, max(cron floor, predictive, reactive) with the HPA's
  behaviour on top: Kubernetes' defaults but a 180 s scale-down window (the forecast's noise
  bound holds the headroom the 300 s window holds for the HPA alone), and the learnt
  schedule at the hour's median load (a floor for the morning ramp, not a cover for peaks);
- ``slo``: replicas sized to a service level (``scaling.slo``): the forecast's peak and the
  load seen now, each at ``overload_risk`` per minute by the square-root staffing rule on the
  trace's measured noise; the HPA keeps only its behaviour (no 70 % floor); the combined
  policy's cron floor;
- ``oracle``: knows the load and starts pods instantly: each step exactly the replicas that
  carry it at the target utilisation. The lower bound on replica-hours for that target.

Forecasters and the schedule learn from the warm-up; figures are measured after it.

With ``serverless`` on, every policy but ``oracle`` runs its replicas on VMs and the load
they miss on serverless containers (:mod:`tidewise.sim.autoscale.serverless`), priced from the
builtin AWS us-east-1 catalog for a replica of ``replica_requests`` on the default week's
general instance types: the result adds the serverless pod-hours and both bills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import Resources
from tidewise.scaling.behavior import HpaBehavior
from tidewise.scaling.cron import CronScaler
from tidewise.scaling.elastic import TIDEWISE_BEHAVIOR, CronOnly, ElasticScaler
from tidewise.scaling.forecast import forecaster_named
from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.observation import (
    ReplicaDecision,
    ReplicaPolicy,
    ServiceModel,
    ServiceObservation,
)
from tidewise.scaling.predictive import PredictiveScaler
from tidewise.scaling.schedule_learning import learn_cron
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.autoscale.replay import ReplayResult, replay
from tidewise.sim.autoscale.serverless import Burst, BurstPricing, burst_pricing
from tidewise.sim.processes import ProgressQueue, relay, run_in_processes
from tidewise.sim.rate_trace import RateTrace

AUTOSCALE_POLICIES = ("hpa", "cron", "predictive", "combined", "slo", "oracle")
CRON_QUANTILE = 0.95  # a schedule alone must cover the hour's busy minutes
COMBINED_CRON_QUANTILE = 0.5
AUTO_CAPACITY_REPLICAS = 20  # auto capacity: the load's 95th percentile fills this many
WEB_REPLICA = Resources(cpu_milli=1000, memory_mib=2048)
"""The default week's web replica (tidewise/scenarios/nasa-week.yaml): what a burst prices."""
GENERAL_TYPES = ("m6i.xlarge", "m6i.2xlarge", "c6i.2xlarge", "c6i.4xlarge")
"""The default week's general node pool: the VMs a replica may otherwise run on."""


@dataclass(frozen=True)
class AutoscaleSettings:
    replica_capacity: float | None = None  # None: from the trace (see auto_capacity)
    startup_s: float = 60.0
    period_s: float = 15.0
    target_utilization: float = 0.7
    min_replicas: int = 1
    max_replicas: int = 1000
    warmup_days: float = 14.0
    margin_s: float = 120.0  # forecast lead beyond the start-up time
    forecaster: str = "seasonal-level"
    time_zone: str = "UTC"
    overload_risk: float = 0.005  # the ``slo`` policy's risk per minute
    serverless: bool = False  # the load the VM replicas miss bursts onto serverless
    serverless_startup_s: float = 30.0  # a container's boot and the app's start (20-40 s)
    replica_requests: Resources = WEB_REPLICA
    instance_types: tuple[str, ...] = GENERAL_TYPES

    @property
    def warmup_s(self) -> float:
        return self.warmup_days * 86_400.0


def auto_capacity(trace: RateTrace) -> float:
    """A replica capacity that puts the busy hours at about 20 replicas at 100 % CPU, so
    traces in any unit replay at a size where one replica is a small step."""
    observed = trace.values[trace.observed]
    if not len(observed):
        raise ValueError(f"{trace.name}: no observed values")
    return max(float(np.percentile(observed, 95)) / AUTO_CAPACITY_REPLICAS, 1e-9)


def service_for(trace: RateTrace, settings: AutoscaleSettings) -> ServiceModel:
    capacity = settings.replica_capacity or auto_capacity(trace)
    return ServiceModel(
        replica_capacity=capacity,
        startup_s=settings.startup_s,
        target_utilization=settings.target_utilization,
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
    )


@dataclass
class Oracle:
    service: ServiceModel

    def recommend(self, obs: ServiceObservation) -> ReplicaDecision:
        if obs.load is None:
            return ReplicaDecision(obs.replicas, "oracle")
        return ReplicaDecision(self.service.replicas_for(obs.load), "oracle")


def build_policy(
    name: str, trace: RateTrace, service: ServiceModel, settings: AutoscaleSettings
) -> ReplicaPolicy:
    def hpa(behavior: HpaBehavior | None = None) -> HorizontalPodAutoscaler:
        return HorizontalPodAutoscaler.on_cpu(
            service.min_replicas, service.max_replicas, service.target_utilization, behavior
        )

    def cron(quantile: float) -> CronScaler:
        warm = int(settings.warmup_s // trace.step_s)
        start = datetime.fromtimestamp(trace.start_unix_s, tz=UTC).astimezone(
            ZoneInfo(settings.time_zone)
        )
        spec = learn_cron(
            trace.values[:warm],
            trace.step_s,
            start,
            service,
            lead_s=service.startup_s + settings.margin_s,
            quantile=quantile,
        )
        return CronScaler(spec, default_zone=settings.time_zone)

    def predictive(level: ServiceLevel | None = None) -> PredictiveScaler:
        forecaster = forecaster_named(settings.forecaster)
        return PredictiveScaler(
            service,
            forecaster.forecast,
            lead_s=service.startup_s + settings.margin_s,
            step_s=trace.step_s,
            level=level,
        )

    if name == "hpa":
        return ElasticScaler(hpa())
    if name == "cron":
        return CronOnly(cron(CRON_QUANTILE), service.min_replicas)
    if name == "predictive":
        return ElasticScaler(hpa(), predictive=predictive())
    if name == "combined":
        return ElasticScaler(
            hpa(TIDEWISE_BEHAVIOR), predictive=predictive(), cron=cron(COMBINED_CRON_QUANTILE)
        )
    if name == "slo":
        return ElasticScaler(
            hpa(TIDEWISE_BEHAVIOR),
            predictive=predictive(ServiceLevel(settings.overload_risk)),
            cron=cron(COMBINED_CRON_QUANTILE),
            reactive=False,
        )
    if name == "oracle":
        return Oracle(service)
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(AUTOSCALE_POLICIES)}")


def check_warmup(trace: RateTrace, settings: AutoscaleSettings) -> None:
    """``ValueError`` when the warm-up leaves nothing of the trace to measure."""
    if settings.warmup_s >= trace.duration_s:
        raise ValueError(
            f"--warmup-days: a warm-up of {settings.warmup_days:g} days leaves nothing of the "
            f"{trace.duration_s / 86400:.1f}-day trace to measure; lower --warmup-days"
        )


def run_autoscale(
    trace: RateTrace,
    settings: AutoscaleSettings,
    policies: Sequence[str] = AUTOSCALE_POLICIES,
    progress: Callable[[str, float], None] | None = None,
    workers: int = 1,
) -> tuple[ServiceModel, list[ReplayResult]]:
    """Every policy's replay of ``trace``, in ``workers`` processes when more than one (each
    replay is independent, so the results are those of one process, in policy order);
    ``progress(policy, seconds replayed)``."""
    check_warmup(trace, settings)
    service = service_for(trace, settings)
    pricing = burst_pricing_for(settings) if settings.serverless else None
    tasks = [(trace, settings, service, pricing, name) for name in policies]
    if workers > 1 and len(policies) > 1:
        return service, run_in_processes(_replay_in_worker, tasks, workers, progress)
    return service, [_replay_policy(*task, progress) for task in tasks]


def _replay_policy(
    trace: RateTrace,
    settings: AutoscaleSettings,
    service: ServiceModel,
    pricing: BurstPricing | None,
    name: str,
    progress: Callable[[str, float], None] | None,
) -> ReplayResult:
    """One policy's replay of ``trace`` after the warm-up; VM replicas and, with
    ``pricing``, serverless bursts (never for the oracle)."""
    policy = build_policy(name, trace, service, settings)
    model = replace(service, startup_s=0.0) if name == "oracle" else service
    report = None if progress is None else (lambda t: progress(name, t))
    burst = None if pricing is None or name == "oracle" else Burst(pricing)
    return replay(trace, model, policy, name, settings.period_s, settings.warmup_s, report, burst)


def _replay_in_worker(
    trace: RateTrace,
    settings: AutoscaleSettings,
    service: ServiceModel,
    pricing: BurstPricing | None,
    name: str,
    queue: ProgressQueue | None,
) -> ReplayResult:
    return _replay_policy(trace, settings, service, pricing, name, relay(queue))


def burst_pricing_for(settings: AutoscaleSettings) -> BurstPricing:
    """A replica's VM and serverless prices on the builtin AWS us-east-1 catalog."""
    catalog = load_catalog(
        builtin_catalog_path("aws-us-east-1"),
        provider="aws",
        instance_types=settings.instance_types,
    )
    return burst_pricing(
        catalog.offerings, settings.replica_requests, settings.serverless_startup_s
    )


def demand_replicas(trace: RateTrace, service: ServiceModel) -> np.ndarray:
    """The load expressed as replicas at the target utilisation (NaN in gaps), for plots."""
    return trace.values / service.load_per_replica


def burst_document(settings: AutoscaleSettings) -> dict[str, object] | None:
    """The serverless pricing a replay ran with, for the JSON (``None``: no serverless)."""
    if not settings.serverless:
        return None
    pricing = burst_pricing_for(settings)
    return {
        "startup_s": pricing.startup_s,
        "break_even_s": round(pricing.break_even_s, 1),
        "vm_usd_per_replica_hour": round(pricing.vm_per_replica_hour, 6),
        "serverless_usd_per_replica_hour": round(pricing.serverless_per_replica_hour, 6),
        "replica_requests": {
            "cpu_milli": settings.replica_requests.cpu_milli,
            "memory_mib": settings.replica_requests.memory_mib,
        },
        "instance_types": list(settings.instance_types),
    }
