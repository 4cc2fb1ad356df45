"""What a replica policy sees of one service each period, and what it answers.

One shape for the benchmark's replay, the twin and (later) the Kubernetes adapter: the time
in seconds and on the calendar (cron needs the latter), the replica count asked for now, the
pods as the HPA's replica calculator sees them, and the total load when it was observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tidewise.scaling.metrics import MetricsSource
from tidewise.scaling.replica_calculator import PodSample


@dataclass(frozen=True, slots=True)
class ServiceModel:
    """A replicated service: each Ready replica serves ``replica_capacity`` load units at
    100 % CPU; policies aim at ``target_utilization`` of that."""

    replica_capacity: float
    startup_s: float = 60.0
    target_utilization: float = 0.7
    min_replicas: int = 1
    max_replicas: int = 1000
    cpu_request_milli: int = 1000

    def __post_init__(self) -> None:
        if self.replica_capacity <= 0:
            raise ValueError("replica_capacity must be > 0")
        if not 0 < self.target_utilization <= 1:
            raise ValueError("target_utilization must be in (0, 1]")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")

    @property
    def load_per_replica(self) -> float:
        """The load one replica should carry: capacity at the target utilisation."""
        return self.replica_capacity * self.target_utilization

    def replicas_for(self, load: float) -> int:
        """Replicas that carry ``load`` at the target utilisation."""
        return math.ceil(load / self.load_per_replica - 1e-9)


@dataclass(frozen=True)
class ServiceObservation:
    now_s: float
    wall: datetime  # the same instant on the calendar, aware
    replicas: int  # the count asked for now (spec.replicas)
    pods: Sequence[PodSample]
    load: float | None  # offered load now; None while unobserved
    source: MetricsSource | None = None  # where metrics come from; None: from ``pods``


@dataclass(frozen=True)
class ReplicaDecision:
    replicas: int
    rule: str  # which rule set the count: "reactive", "predictive", "cron", ...
    placeholders: int = 0  # a headroom's placeholder pods (``tidewise.scaling.headroom``)
    ahead: int | None = None  # the forecast replicas the headroom holds room for


class ReplicaPolicy(Protocol):
    def recommend(self, obs: ServiceObservation) -> ReplicaDecision: ...
