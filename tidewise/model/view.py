"""The immutable snapshot every policy reads: the only input a policy has."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidewise.model.cluster import Node, Pod, PodPhase
from tidewise.model.offering import Offering
from tidewise.model.workload import WorkloadStatus


@dataclass(frozen=True, slots=True)
class ClusterView:
    time_s: float
    nodes: tuple[Node, ...]
    pods: tuple[Pod, ...]
    workloads: tuple[WorkloadStatus, ...]
    offerings: tuple[Offering, ...]
    unavailable_offerings: frozenset[str] = field(default_factory=frozenset)
    # noticed nodes whose replacement was decided earlier, as the cluster records it (so a
    # restarted controller, whose memory is empty, does not buy it again)
    replaced: frozenset[str] = field(default_factory=frozenset)

    def pending_pods(self) -> list[Pod]:
        return [p for p in self.pods if p.phase is PodPhase.PENDING]
