"""An ElasticScaler object read into the pure policy's parts, and its memory kept in status.

Every error names the field (``spec.metrics[1].target.averageValue: ...``), so the status
condition tells the user what to fix. The HPA behaviour's history (recommendations and scale
events, in epoch seconds) and the cron floor go to ``status`` each sync and are read back
when an operator (re)starts, so stabilization windows and rate limits hold across restarts
and a leader change, and no scheduled floor is lost or fired twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidewise.kube.api.status import parse_stamp
from tidewise.kube.controllers import kserve
from tidewise.kube.controllers.resources import TEMPLATED, group_of, target_ref
from tidewise.scaling.behavior import (
    BehaviorError,
    HpaBehavior,
    ScaleEvent,
    ScalingHistory,
    TimedRecommendation,
    behavior_from_spec,
)
from tidewise.scaling.cron import API_VERSION, KIND, CronError, CronHpaSpec, ScaleTargetRef
from tidewise.scaling.forecast import forecaster_named
from tidewise.scaling.headroom import Headroom
from tidewise.scaling.metrics import Metric, MetricError, MetricKind
from tidewise.scaling.observation import ServiceModel
from tidewise.scaling.predictive import TIDEWISE_REFIT_S, PredictiveScaler
from tidewise.scaling.serving.vllm import VllmSignals, VllmSpecError, scope, signals_from_spec

FORECASTER = "holt-winters"  # the bench's default (tidewise/sim/autoscale/bench.py)
FORECAST_MARGIN_S = 120.0
HEADROOM_PRIORITY_CLASS = "tidewise-headroom"  # shipped in deploy/operator/components/elasticscaler
NODE_STARTUP_S = 180.0
"""The default node start-up a headroom looks past the service's own lead: GKE documents 80
to 120 s for a new node to start ("Provision extra compute capacity for rapid Pod scaling"),
and a node autoscaler's batching and the image pull come on top."""


class SpecError(ValueError):
    """An ElasticScaler spec that cannot run; the message names the field and the fix."""


@dataclass(frozen=True)
class PredictiveSpec:
    load_query: str
    service: ServiceModel

    @property
    def lead_s(self) -> float:
        return self.service.startup_s + FORECAST_MARGIN_S

    def scaler(self, origin_s: float, horizon_s: float = 0.0) -> PredictiveScaler:
        """A forecaster whose history starts at ``origin_s`` (epoch seconds, the controllers'
        clock), forecasting ``horizon_s`` ahead when that is past its lead; it proposes once
        it has ``min_history_s`` of load (a day)."""
        forecast = forecaster_named(FORECASTER).forecast
        return PredictiveScaler(
            self.service,
            forecast,
            lead_s=self.lead_s,
            origin_s=origin_s,
            horizon_s=horizon_s,
            refit_s=TIDEWISE_REFIT_S,
        )


@dataclass(frozen=True)
class HeadroomSpec:
    """``spec.headroom``: placeholder pods of the target's shape, at ``priority_class``."""

    rule: Headroom
    priority_class: str


@dataclass(frozen=True)
class ElasticSpec:
    target: ScaleTargetRef
    min_replicas: int
    max_replicas: int
    metrics: tuple[Metric, ...]
    behavior: HpaBehavior
    cron: CronHpaSpec | None
    predictive: PredictiveSpec | None
    prometheus: Mapping[str, str] | None  # which Prometheus: {endpoint: NAME} or {url: URL}
    headroom: HeadroomSpec | None = None
    vllm: VllmSignals | None = None  # its metrics are in ``metrics``, after spec.metrics


def read_spec(obj: Mapping[str, Any]) -> ElasticSpec:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    try:
        target = target_ref(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    except ValueError as error:
        raise SpecError(str(error)) from None
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(high, int) or high < 1:
        raise SpecError("spec.maxReplicas: a whole number >= 1")
    if not isinstance(low, int) or not 0 <= low <= high:
        raise SpecError(f"spec.minReplicas: a whole number in 0..maxReplicas ({high})")
    metrics = []
    for i, raw in enumerate(spec.get("metrics") or []):
        where = f"spec.metrics[{i}]"
        try:
            metric = Metric.from_spec(raw, where)
        except MetricError as error:
            raise SpecError(str(error)) from None
        if metric.kind is MetricKind.PODS and metric.query:
            raise SpecError(f"{where}: a Prometheus query gives one number; use type External")
        metrics.append(metric)
    try:
        vllm = signals_from_spec(spec.get("vllm"))
    except VllmSpecError as error:
        raise SpecError(str(error)) from None
    if vllm is not None:
        where = scope(meta.get("namespace", ""), _pod_prefix(target), vllm.selector)
        metrics += vllm.metrics(where)
    try:
        behavior = behavior_from_spec(spec.get("behavior"))
    except BehaviorError as error:
        raise SpecError(f"spec.{error}") from None
    cron = _cron(meta, spec, target)
    predictive = _predictive(spec.get("predictive"), low, high)
    if not metrics and cron is None and predictive is None:
        raise SpecError("spec: give metrics, vllm, cron jobs or predictive (or several)")
    prometheus = prometheus_section(spec.get("prometheus"))
    headroom = _headroom(spec.get("headroom"), predictive, target, high)
    return ElasticSpec(
        target, low, high, tuple(metrics), behavior, cron, predictive, prometheus, headroom, vllm
    )


def _pod_prefix(target: ScaleTargetRef) -> str:
    """The prefix of the target's pods' names: an InferenceService's predictor's in both of
    KServe's modes, the target's own name otherwise (a Deployment's pods, a Seldon or
    Triton deployment's when they are named after it; else give spec.vllm.selector)."""
    if kserve.is_inference_service(target):
        return kserve.predictor_name(target.name)
    return target.name


def prometheus_section(raw: object) -> dict[str, str] | None:
    """``spec.prometheus``'s choice of endpoint, checked for shape (whether the operator
    allows it is the controller's to say: ``Prometheus.resolve``)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SpecError("spec.prometheus: a mapping, e.g. {endpoint: team-a}")
    chosen = {k: raw[k] for k in ("endpoint", "url") if raw.get(k) is not None}
    for key, value in chosen.items():
        if not isinstance(value, str) or not value:
            raise SpecError(f"spec.prometheus.{key}: a non-empty string")
    return chosen


def _cron(
    meta: Mapping[str, Any], spec: Mapping[str, Any], target: ScaleTargetRef
) -> CronHpaSpec | None:
    raw = spec.get("cron")
    if not raw or not raw.get("jobs"):
        return None
    ref = {"apiVersion": target.api_version, "kind": target.kind, "name": target.name}
    manifest = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": {"scaleTargetRef": ref, **raw},
    }
    try:
        return CronHpaSpec.from_manifest(manifest)
    except CronError as error:
        raise SpecError(str(error).replace("spec.", "spec.cron.", 1)) from None


def _predictive(raw: Mapping[str, Any] | None, low: int, high: int) -> PredictiveSpec | None:
    if not raw or not raw.get("enabled", False):
        return None
    query = raw.get("loadQuery")
    if not isinstance(query, str) or not query:
        raise SpecError("spec.predictive.loadQuery: the PromQL of the service's total load")
    try:
        service = ServiceModel(
            replica_capacity=float(raw.get("replicaCapacity", 0)),
            startup_s=float(raw.get("startupSeconds", 60.0)),
            target_utilization=float(raw.get("targetUtilization", 0.7)),
            min_replicas=low,
            max_replicas=high,
        )
    except ValueError as error:
        raise SpecError(
            f"spec.predictive: {error} (replicaCapacity is the load one replica carries at 100 %)"
        ) from None
    return PredictiveSpec(query, service)


def _headroom(
    raw: Mapping[str, Any] | None,
    predictive: PredictiveSpec | None,
    target: ScaleTargetRef,
    high: int,
) -> HeadroomSpec | None:
    """``spec.headroom``, opt-in; it sizes placeholders from the forecast, so it needs
    ``predictive``, and their shape from a pod template, so a Deployment, StatefulSet or
    ReplicaSet target."""
    if not raw or not raw.get("enabled", False):
        return None
    if predictive is None:
        raise SpecError("spec.headroom: needs spec.predictive (enabled): it holds the forecast")
    if group_of(target.api_version) != "apps" or target.kind not in TEMPLATED:
        raise SpecError(
            "spec.headroom: the placeholders copy a pod template; "
            f"scaleTargetRef must be an apps/v1 {', '.join(TEMPLATED)} (got {target.kind})"
        )
    lookahead = raw.get("lookaheadSeconds", predictive.lead_s + NODE_STARTUP_S)
    if not isinstance(lookahead, int | float) or lookahead <= 0:
        raise SpecError("spec.headroom.lookaheadSeconds: a number of seconds > 0")
    cap = raw.get("maxPlaceholders", high)
    if not isinstance(cap, int) or cap < 0:
        raise SpecError("spec.headroom.maxPlaceholders: a whole number >= 0")
    priority = raw.get("priorityClassName", HEADROOM_PRIORITY_CLASS)
    if not isinstance(priority, str) or not priority:
        raise SpecError("spec.headroom.priorityClassName: the name of a PriorityClass")
    return HeadroomSpec(Headroom(float(lookahead), cap), priority)


def history_to_status(history: ScalingHistory) -> dict[str, Any]:
    return {
        "recommendations": [[r.replicas, r.at_s] for r in history.recommendations],
        "scaleUp": [[e.change, e.at_s, e.outdated] for e in history.scale_up_events],
        "scaleDown": [[e.change, e.at_s, e.outdated] for e in history.scale_down_events],
    }


def history_from_status(raw: Mapping[str, Any] | None) -> ScalingHistory:
    """The history a previous leader wrote; an unreadable one is dropped (the HPA starts
    afresh, as Kubernetes' own controller does after a restart)."""
    if not raw:
        return ScalingHistory()
    try:
        return ScalingHistory(
            tuple(TimedRecommendation(int(r), float(t)) for r, t in raw.get("recommendations", [])),
            tuple(ScaleEvent(int(c), float(t), bool(o)) for c, t, o in raw.get("scaleUp", [])),
            tuple(ScaleEvent(int(c), float(t), bool(o)) for c, t, o in raw.get("scaleDown", [])),
        )
    except (TypeError, ValueError):
        return ScalingHistory()


def resume_times(raw: Mapping[str, Any] | None) -> dict[str, datetime]:
    """Each cron job's last firing, from ``status.cron.since``."""
    return {name: parse_stamp(at) for name, at in ((raw or {}).get("since") or {}).items()}
