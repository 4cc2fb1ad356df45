"""Services as the policies see them: a spec and, each tick, an observed status."""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model.resources import Resources


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A replicated service whose replicas each serve up to ``rps_per_replica`` requests/s."""

    name: str
    requests: Resources
    rps_per_replica: float
    startup_s: float
    min_replicas: int
    max_replicas: int
    target_utilization: float


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    """What a metrics pipeline reports for one service at one instant.

    ``demand_rps`` is the offered load; ``utilization`` is load over the capacity of the ready
    replicas (what an HPA sees as CPU utilisation of a CPU-bound service).
    """

    spec: WorkloadSpec
    desired: int
    ready: int
    starting: int
    pending: int
    demand_rps: float

    @property
    def utilization(self) -> float | None:
        if self.ready == 0:
            return None
        return self.demand_rps / (self.ready * self.spec.rps_per_replica)
