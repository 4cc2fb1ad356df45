"""A running service's scaling settings as a scenario states them: ``tidewise capture`` reads
a cluster's autoscalers and asks here what replica range and target utilisation they mean,
and what one replica serves.

The autoscalers are read as the API returns them (dicts): an autoscaling/v2
HorizontalPodAutoscaler, tidewise's ElasticScaler (the same bounds and metrics) and Alibaba's
CronHorizontalPodAutoscaler (its jobs' sizes). Their metrics are read by
:meth:`Metric.from_spec`, the HPA's own reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidewise.scaling.cron import CronHpaSpec
from tidewise.scaling.metrics import Metric, MetricError, MetricKind, TargetType

DEFAULT_TARGET = 0.7
"""The target utilisation a scenario is given where no autoscaler states one (a CPU target
of 70 % is the common HPA example: kubernetes.io HorizontalPodAutoscaler walkthrough uses 50,
GKE's and AKS's defaults are 60 to 80)."""


@dataclass(frozen=True)
class Scaling:
    """The replica range and target utilisation of one service, and where they came from."""

    min_replicas: int
    max_replicas: int
    target_utilization: float
    source: str  # "HorizontalPodAutoscaler web", "fixed at 3 replicas", ...
    notes: tuple[str, ...] = ()


def cpu_target(metrics: Sequence[Mapping[str, Any]], where: str) -> tuple[float, list[str]]:
    """The CPU utilisation target among an autoscaler's metrics (a fraction), and a note for
    each metric the scenario cannot state (it scales on CPU or request rate, not others)."""
    target, notes = DEFAULT_TARGET, []
    for i, raw in enumerate(metrics):
        try:
            metric = Metric.from_spec(raw, f"{where}.metrics[{i}]")
        except MetricError as error:
            notes.append(f"{error}: left out")
            continue
        if (
            metric.kind is MetricKind.RESOURCE
            and metric.name == "cpu"
            and metric.target_type is TargetType.UTILIZATION
        ):
            target = min(1.0, metric.target / 100)
        else:
            notes.append(
                f"{where}: metric {metric.name} ({metric.kind}) is replayed as the CPU "
                f"target {target:.0%}"
            )
    return target, notes


def from_autoscaler(kind: str, obj: Mapping[str, Any]) -> Scaling:
    """An HPA's or an ElasticScaler's bounds and CPU target (their specs share the fields)."""
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    high = int(spec.get("maxReplicas") or 1)
    low = min(int(spec.get("minReplicas", 1)), high)
    target, notes = cpu_target(spec.get("metrics") or [], f"{kind} {name}")
    return Scaling(low, high, target, f"{kind} {name}", tuple(notes))


def from_cron(cron: CronHpaSpec, replicas: int) -> Scaling:
    """A CronHPA sets the size at each job's time: the scenario's range spans every size it
    sets and the size there is now (the twin's ``elastic`` policy scales within it)."""
    sizes = [job.target_size for job in cron.jobs] + [replicas]
    return Scaling(
        min(sizes),
        max(max(sizes), 1),
        DEFAULT_TARGET,
        f"CronHorizontalPodAutoscaler {cron.name}",
    )


def fixed(replicas: int) -> Scaling:
    """No autoscaler: the replica count stays what it is."""
    count = max(replicas, 1)
    return Scaling(count, count, DEFAULT_TARGET, f"fixed at {replicas} replicas")


def replica_capacity(recent_rate: float, replicas: int, target_utilization: float) -> float:
    """What one replica serves, from what the service serves now: an autoscaler holds
    ``rate / (replicas x capacity)`` at its target, so ``capacity = rate / (replicas x
    target)``; with no autoscaler the same reading says the replicas run at the target now.
    ``ValueError`` when there is nothing to read it from."""
    if replicas < 1 or not math.isfinite(recent_rate) or recent_rate <= 0:
        raise ValueError("no traffic and replicas to estimate a replica's capacity from")
    return recent_rate / (replicas * target_utilization)
