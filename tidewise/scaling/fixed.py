"""Fixed replicas: a static size per workload, set once (the baseline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tidewise.model import ClusterView, Decision, ScaleTo


@dataclass(frozen=True)
class FixedReplicas:
    replicas: Mapping[str, int]

    @property
    def period_s(self) -> float | None:
        return None

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        return [ScaleTo(w.spec.name, self.replicas[w.spec.name]) for w in view.workloads]
