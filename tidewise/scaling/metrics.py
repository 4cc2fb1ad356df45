"""The metrics an autoscaler scales on, and the one interface that feeds them.

A metric is an autoscaling/v2 ``MetricSpec``: Resource (CPU or memory utilisation or average
value), Pods (a per-pod average value), Object (one value of one object) or External (one
value from outside the cluster). A Prometheus query is an External (or Pods) metric whose
``query`` is PromQL: the CustomHPA case. Where the values come from is a ``MetricsSource``:
the twin reads them off simulated state, the Kubernetes adapter from metrics-server and
Prometheus. Values are in milli-units, as the Kubernetes calculator works.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from tidewise.model.quantity import QuantityError, quantity
from tidewise.scaling.replica_calculator import (
    CalculatorSettings,
    PodSample,
    Recommendation,
    external_average_value_replicas,
    external_metric_replicas,
    object_average_value_replicas,
    object_metric_replicas,
    pods_metric_replicas,
    resource_average_value_replicas,
    resource_utilization_replicas,
)


class MetricKind(StrEnum):
    RESOURCE = "Resource"
    PODS = "Pods"
    OBJECT = "Object"
    EXTERNAL = "External"


class TargetType(StrEnum):
    UTILIZATION = "Utilization"  # percent of the request
    AVERAGE_VALUE = "AverageValue"  # per pod, milli-units
    VALUE = "Value"  # the whole, milli-units


class MetricError(ValueError):
    """A metric spec that cannot be evaluated; the message names the field."""


@dataclass(frozen=True)
class Metric:
    kind: MetricKind
    name: str  # resource name (cpu, memory) or the metric's name
    target_type: TargetType
    target: int  # percent for Utilization, else milli-units
    query: str | None = None  # PromQL, when the metric is a Prometheus query

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise MetricError(f"metric {self.name}: target must be > 0")
        if self.target_type is TargetType.UTILIZATION and self.kind is not MetricKind.RESOURCE:
            raise MetricError(f"metric {self.name}: Utilization is for Resource metrics only")
        if self.kind is MetricKind.PODS and self.target_type is not TargetType.AVERAGE_VALUE:
            raise MetricError(f"metric {self.name}: a Pods metric takes an AverageValue target")

    @classmethod
    def cpu_utilization(cls, percent: int) -> Metric:
        return cls(MetricKind.RESOURCE, "cpu", TargetType.UTILIZATION, percent)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: str = "metrics[0]") -> Metric:
        """Read an autoscaling/v2 ``MetricSpec``; a ``query`` key beside ``name`` makes it a
        Prometheus query (tidewise's extension)."""
        try:
            kind = MetricKind(spec.get("type", ""))
        except ValueError:
            raise MetricError(f"{where}.type: one of {', '.join(MetricKind)}") from None
        body = spec.get(kind.value[0].lower() + kind.value[1:])
        if not isinstance(body, Mapping):
            raise MetricError(f"{where}: type {kind} needs a '{kind.value.lower()}' section")
        target = body.get("target")
        if not isinstance(target, Mapping):
            raise MetricError(f"{where}.target: required")
        try:
            target_type = TargetType(target.get("type", ""))
        except ValueError:
            raise MetricError(f"{where}.target.type: one of {', '.join(TargetType)}") from None
        if kind is MetricKind.RESOURCE:
            name = body.get("name")
        else:
            metric = body.get("metric")
            name = metric.get("name") if isinstance(metric, Mapping) else None
        if not isinstance(name, str) or not name:
            raise MetricError(f"{where}: metric name required")
        if target_type is TargetType.UTILIZATION:
            value = target.get("averageUtilization")
            field = "averageUtilization"
        else:
            field = "averageValue" if target_type is TargetType.AVERAGE_VALUE else "value"
            value = _milli(target.get(field), f"{where}.target.{field}")
        if not isinstance(value, int) or value <= 0:
            raise MetricError(f"{where}.target.{field}: a positive number")
        query = body.get("metric", {}).get("query") if kind is not MetricKind.RESOURCE else None
        return cls(kind, name, target_type, value, query)


def _milli(value: object, where: str) -> int:
    """A Kubernetes quantity (``10``, ``500m``, ``1.5``, ``2k``) in milli-units, rounded up as
    Kubernetes' ``MilliValue``."""
    try:
        return math.ceil(quantity(value) * 1000)
    except QuantityError as error:
        raise MetricError(f"{where}: {error}") from None


class MetricsSource(Protocol):
    """Where metric values come from at one instant."""

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        """The target's pods, with their sample of ``metric`` for Resource and Pods metrics
        (Object and External metrics only count the Ready ones)."""
        ...

    def value(self, metric: Metric) -> int:
        """The value of an Object or External metric (a Prometheus query's result)."""
        ...


def propose(
    metric: Metric,
    source: MetricsSource,
    current_replicas: int,
    now_s: float,
    settings: CalculatorSettings,
) -> Recommendation:
    """Kubernetes' replica proposal for one metric."""
    cpu = metric.name == "cpu"
    per_pod = metric.target_type is TargetType.AVERAGE_VALUE
    if metric.kind is MetricKind.RESOURCE:
        pods = source.pods(metric)
        if metric.target_type is TargetType.UTILIZATION:
            return resource_utilization_replicas(
                pods, current_replicas, metric.target, now_s, cpu=cpu, settings=settings
            )
        return resource_average_value_replicas(
            pods, current_replicas, metric.target, now_s, cpu=cpu, settings=settings
        )
    if metric.kind is MetricKind.PODS:
        return pods_metric_replicas(
            source.pods(metric), current_replicas, metric.target, settings=settings
        )
    value = source.value(metric)
    if metric.kind is MetricKind.OBJECT:
        if per_pod:
            return object_average_value_replicas(
                value, current_replicas, metric.target, settings=settings
            )
        return object_metric_replicas(
            value, current_replicas, metric.target, source.pods(metric), settings=settings
        )
    if per_pod:
        return external_average_value_replicas(
            [value], current_replicas, metric.target, settings=settings
        )
    return external_metric_replicas(
        [value], current_replicas, metric.target, source.pods(metric), settings=settings
    )
