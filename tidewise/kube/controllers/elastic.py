"""The ElasticScaler controller: the combined policy (``tidewise.scaling.elastic``) per object.

Every ``period_s`` (the HPA's sync period) and for each object: read the target's ``/scale``,
fetch what the policy needs (the target's pods; Prometheus for queries; metrics.k8s.io for
Resource metrics), ask the policy, write the target when the count changes, and write the
decision, the rule that set it, the metric values, the behaviour's memory and the conditions
to ``status``. Errors land in a condition of the object they belong to and never stop the
pass: ``Ready`` (the spec and the target), ``ScalingActive`` (the metrics).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.client import LabelSelector
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from tidewise.kube.api.events import tell
from tidewise.kube.api.kinds import ElasticScalerResource
from tidewise.kube.api.loop import reconcile_all
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.status import parse_stamp, set_condition, stamp, unix_s
from tidewise.kube.controllers import COMPONENT
from tidewise.kube.controllers.elastic_spec import (
    ElasticSpec,
    SpecError,
    history_from_status,
    history_to_status,
    read_spec,
    resume_times,
)
from tidewise.kube.controllers.headroom import Placeholders, placeholder_name
from tidewise.kube.controllers.kserve import ServingTargets, UnsupportedMode
from tidewise.kube.controllers.pods import Usage, equality_selector, milli, samples
from tidewise.kube.controllers.prometheus import EndpointRefused, Prometheus, PrometheusError
from tidewise.kube.controllers.resources import PodMetrics
from tidewise.kube.controllers.targets import ScaleState
from tidewise.scaling.cron import CronScaler
from tidewise.scaling.elastic import ElasticScaler
from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric, MetricKind
from tidewise.scaling.observation import ReplicaDecision, ServiceObservation
from tidewise.scaling.replica_calculator import PodSample, ReplicaCalculationError

log = logging.getLogger(__name__)

NAME = "elasticscaler"
NOT_ALLOWED = "PrometheusNotAllowed"


def metric_key(metric: Metric) -> str:
    return metric.query or f"{metric.kind}/{metric.name}"


@dataclass(frozen=True)
class FetchedMetrics:
    """A ``MetricsSource`` over what one sync fetched; a failed fetch raises here, so the
    HPA rules see it as that metric's error."""

    pods_by_resource: Mapping[str | None, tuple[PodSample, ...]]
    values: Mapping[str, int]
    problems: Mapping[str, str]

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        resource = metric.name if metric.kind is MetricKind.RESOURCE else None
        if resource is not None and metric_key(metric) in self.problems:
            raise ReplicaCalculationError(self.problems[metric_key(metric)])
        return self.pods_by_resource.get(resource, ())

    def value(self, metric: Metric) -> int:
        key = metric_key(metric)
        if key in self.problems:
            raise ReplicaCalculationError(self.problems[key])
        return self.values[key]


def build_scaler(spec: ElasticSpec, status: Mapping[str, Any], now: datetime) -> ElasticScaler:
    """The policy for ``spec``, resuming the behaviour's history and the cron floor that
    ``status`` recorded."""
    hpa = HorizontalPodAutoscaler(
        spec.min_replicas,
        spec.max_replicas,
        spec.metrics or (Metric.cpu_utilization(100),),  # unused when not reactive
        spec.behavior,
        history=history_from_status(status.get("history")),
    )
    cron = None
    if spec.cron is not None:
        recorded = status.get("cron") or {}
        cron = CronScaler(spec.cron)
        started = parse_stamp(recorded["startedAt"]) if recorded.get("startedAt") else now
        ran = resume_times(recorded)
        cron.start(now, {job.name: ran.get(job.name, started) for job in spec.cron.jobs})
        cron.floor, cron.last_job = recorded.get("floor"), recorded.get("job")
    headroom = spec.headroom.rule if spec.headroom else None
    predictive = None
    if spec.predictive:
        horizon = headroom.lookahead_s if headroom else 0.0
        predictive = spec.predictive.scaler(now.timestamp(), horizon)
    return ElasticScaler(hpa, predictive, cron, reactive=bool(spec.metrics), headroom=headroom)


def signals(
    scaler: ElasticScaler, source: FetchedMetrics, current: int, now_s: float
) -> list[dict[str, Any]]:
    """Each metric's value and the replicas it alone asks for (the highest wins, before the
    behaviour), so the status says which signal is the most demanding."""
    if not scaler.reactive:
        return []
    found = []
    for metric, replicas in scaler.hpa.per_metric(source, current, now_s).items():
        signal: dict[str, Any] = {"name": metric.name}
        if replicas is not None:
            signal["replicas"] = replicas
        if metric_key(metric) in source.values:
            signal["value"] = f"{source.values[metric_key(metric)] / 1000:g}"
        found.append(signal)
    return found


@dataclass
class Tracked:
    fingerprint: str
    spec: ElasticSpec | None  # None: the spec is malformed or selects a refused Prometheus
    scaler: ElasticScaler | None
    cron_since: dict[str, str]
    cron_started: str
    prometheus_url: str | None = None  # the endpoint the spec selects, once allowed


@dataclass
class ElasticScalerController:
    client: AsyncClient
    metrics: ControllerMetrics
    prometheus: Prometheus
    period_s: float = 15.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    name: str = NAME

    def __post_init__(self) -> None:
        self.targets = ServingTargets(self.client)
        self.placeholders = Placeholders(self.client)
        self._tracked: dict[str, Tracked] = {}

    def forget(self) -> None:
        self._tracked.clear()
        self.placeholders.forget()

    async def sync(self) -> float:
        await reconcile_all(
            NAME, ElasticScalerResource, self.client, self.metrics, self._tracked, self.reconcile
        )
        return self.period_s

    async def reconcile(self, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        uid, now = meta["uid"], self.clock()
        conditions = list(status.get("conditions") or [])
        fingerprint = json.dumps(obj.get("spec") or {}, sort_keys=True)
        tracked = self._tracked.get(uid)
        if tracked is None or tracked.fingerprint != fingerprint:
            try:
                spec = read_spec(obj)
                url = self.prometheus.resolve(spec.prometheus)
                scaler = build_scaler(spec, status, now)
            except (SpecError, EndpointRefused) as error:
                reason = "InvalidSpec" if isinstance(error, SpecError) else NOT_ALLOWED
                self.metrics.errors.labels(controller=NAME, reason=reason).inc()
                self._tracked[uid] = Tracked(fingerprint, None, None, {}, stamp(now))
                conditions = set_condition(
                    conditions, "Ready", False, reason, str(error), stamp(now)
                )
                if reason == NOT_ALLOWED:  # said once per spec: the object is refused, not broken
                    await tell(
                        self.client, obj, reason, str(error), component=COMPONENT, warning=True
                    )
                await self._write(obj, {"conditions": conditions})
                return
            recorded = status.get("cron") or {}
            tracked = self._tracked[uid] = Tracked(
                fingerprint,
                spec,
                scaler,
                dict(recorded.get("since") or {}),
                recorded.get("startedAt") or stamp(now),
                url,
            )
        if tracked.spec is None or tracked.scaler is None:
            return
        spec, scaler, namespace = tracked.spec, tracked.scaler, meta["namespace"]
        try:
            scale = await self.targets.read(spec.target, namespace)
        except (ApiError, UnsupportedMode) as error:
            self.metrics.errors.labels(controller=NAME, reason="FailedGetScale").inc()
            message = str(error)
            if isinstance(error, ApiError):
                message = f"{spec.target.kind} {spec.target.name}: {error.status.message}"
            conditions = set_condition(
                conditions, "Ready", False, "FailedGetScale", message, stamp(now)
            )
            await self._write(obj, {"conditions": conditions})
            return
        source, load = await self._fetch(spec, tracked.prometheus_url, namespace, scale)
        if scaler.cron is not None:
            for firing in scaler.cron.advance(now):
                tracked.cron_since[firing.job] = stamp(firing.at)
        obs = ServiceObservation(now.timestamp(), now, scale.replicas, (), load, source)
        decision = scaler.recommend(obs)
        update: dict[str, Any] = {}
        ceiling_off = scale.floor_only and scale.ceiling != spec.max_replicas
        if decision.replicas != scale.replicas or ceiling_off:
            await self.targets.scale(spec.target, namespace, decision.replicas, spec.max_replicas)
            self.metrics.decisions.labels(controller=NAME, rule=decision.rule).inc()
            message = (
                f"New size: {decision.replicas}; reason: {decision.rule} (was {scale.replicas})"
            )
            if scale.floor_only:
                message = (
                    f"New floor: {decision.replicas} (was {scale.replicas}), ceiling "
                    f"{spec.max_replicas}; reason: {decision.rule}; {scale.mode}: "
                    "Knative scales between them"
                )
            await tell(self.client, obj, "SuccessfulRescale", message, component=COMPONENT)
            update["lastScaleTime"] = stamp(now)
            log.info(
                "elasticscaler %s/%s: %s %d -> %d",
                namespace,
                meta["name"],
                decision.rule,
                scale.replicas,
                decision.replicas,
            )
        self.metrics.desired_replicas.labels(namespace=namespace, name=meta["name"]).set(
            decision.replicas
        )
        at = stamp(now)
        conditions = set_condition(conditions, "Ready", True, "Scaling", "target found", at)
        if source.problems:
            problems = "; ".join(source.problems.values())
            self.metrics.errors.labels(controller=NAME, reason="FailedGetMetrics").inc()
            conditions = set_condition(
                conditions, "ScalingActive", False, "FailedGetMetrics", problems, at
            )
        else:
            conditions = set_condition(
                conditions, "ScalingActive", True, "ValidMetricFound", "every metric read", at
            )
        update |= {
            "observedGeneration": meta.get("generation"),
            "currentReplicas": scale.replicas,
            "desiredReplicas": decision.replicas,
            "rule": decision.rule,
            "message": f"{decision.rule} set {decision.replicas} (was {scale.replicas})",
            "metrics": [
                {"name": key, "value": f"{value / 1000:g}"} for key, value in source.values.items()
            ],
            "history": history_to_status(scaler.hpa.history),
            "signals": signals(scaler, source, scale.replicas, now.timestamp()),
            "conditions": conditions,
        }
        update["deploymentMode"] = scale.mode  # None (not an InferenceService) removes it
        if scaler.cron is not None:
            update["cron"] = {
                "floor": scaler.cron.floor,
                "job": scaler.cron.last_job,
                "since": tracked.cron_since,
                "startedAt": tracked.cron_started,
            }
        if spec.headroom is not None or status.get("headroom"):
            update["headroom"] = await self._headroom(obj, spec, decision, scale.replicas)
        await self._write(obj, update)

    async def _headroom(
        self, obj: dict[str, Any], spec: ElasticSpec, decision: ReplicaDecision, current: int
    ) -> dict[str, Any] | None:
        """Hold the decision's placeholders (or release them when the headroom was turned
        off); the status it leaves (None removes it), told in an Event when it changes."""
        meta, before = obj["metadata"], (obj.get("status") or {}).get("headroom") or {}
        if spec.headroom is None:
            if await self.placeholders.release(obj):
                message = f"Deployment {placeholder_name(meta['name'])} deleted: headroom off"
                await tell(self.client, obj, "HeadroomReleased", message, component=COMPONENT)
            return None
        lookahead = spec.headroom.rule.lookahead_s
        try:
            await self.placeholders.hold(obj, spec.target, decision.placeholders, spec.headroom)
        except ApiError as error:
            self.metrics.errors.labels(controller=NAME, reason="FailedHeadroom").inc()
            message = f"placeholders not written: {error.status.message}"
            await tell(
                self.client, obj, "FailedHeadroom", message, component=COMPONENT, warning=True
            )
            return before | {"message": message}
        was = before.get("placeholders", 0)
        forecast = "no forecast yet" if decision.ahead is None else f"{decision.ahead} replicas"
        message = (
            f"{decision.placeholders} placeholders (was {was}): forecast {forecast} "
            f"within {lookahead:g}s, {current} replicas now"
        )
        if decision.placeholders != was:
            await tell(self.client, obj, "HeadroomChanged", message, component=COMPONENT)
        return {
            "placeholders": decision.placeholders,
            "forecastReplicas": decision.ahead,
            "lookaheadSeconds": lookahead,
            "deployment": placeholder_name(meta["name"]),
            "message": message,
        }

    async def _fetch(
        self, spec: ElasticSpec, url: str | None, namespace: str, scale: ScaleState
    ) -> tuple[FetchedMetrics, float | None]:
        values: dict[str, int] = {}
        problems: dict[str, str] = {}
        for metric in spec.metrics:
            if metric.kind is MetricKind.RESOURCE or metric.kind is MetricKind.PODS:
                continue
            key = metric_key(metric)
            if metric.query is None:
                problems[key] = (
                    f"{metric.kind} metric {metric.name}: add metric.query (PromQL); "
                    "tidewise reads Object and External metrics from Prometheus"
                )
                continue
            try:
                values[key] = round(1000 * await self.prometheus.query(metric.query, url))
            except PrometheusError as error:
                problems[key] = str(error)
        load = None
        if spec.predictive is not None:
            try:
                load = await self.prometheus.query(spec.predictive.load_query, url)
            except PrometheusError as error:
                problems["predictive"] = str(error)
        pods: dict[str | None, tuple[PodSample, ...]] = {}
        try:
            labels = equality_selector(scale.selector) if scale.selector else None
        except ValueError as error:
            problems["selector"] = str(error)
            labels = None
        if labels is not None:
            objects = [
                p.to_dict() async for p in self.client.list(Pod, namespace=namespace, labels=labels)
            ]
            pods[None] = samples(objects, None, None)
            for metric in spec.metrics:
                if metric.kind is MetricKind.RESOURCE:
                    try:
                        usage = await self._usage(namespace, labels, metric.name)
                    except ApiError as error:
                        problems[metric_key(metric)] = (
                            f"resource metric {metric.name}: metrics.k8s.io unavailable "
                            f"({error.status.message}); install metrics-server"
                        )
                        continue
                    pods[metric.name] = samples(objects, metric.name, usage)
        elif not scale.selector and any(m.kind is MetricKind.RESOURCE for m in spec.metrics):
            problems["selector"] = f"{spec.target.kind} {spec.target.name} reports no pod selector"
        return FetchedMetrics(pods, values, problems), load

    async def _usage(self, namespace: str, labels: LabelSelector, resource: str) -> Usage:
        usage = {}
        async for item in self.client.list(PodMetrics, namespace=namespace, labels=labels):
            raw = item.to_dict()
            total = sum(milli(c["usage"].get(resource, "0")) for c in raw.get("containers", []))
            window = float(str(raw.get("window", "60s")).rstrip("s") or 60)
            usage[raw["metadata"]["name"]] = (total, unix_s(raw.get("timestamp")) or 0.0, window)
        return usage

    async def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        await self.client.patch(
            ElasticScalerResource.Status,
            meta["name"],
            {"status": status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
