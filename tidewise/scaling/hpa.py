"""A minimal Kubernetes-style HPA on one metric: the reactive baseline.

The algorithm is autoscaling/v2's core: ``desired = ceil(current * metric / target)``, no
change within a 10 % tolerance, scale-down stabilised over the last 300 s (the highest
recommendation in the window wins), clamped to min/max replicas. The workload issue replaces
it with the exact Kubernetes algorithm (readiness rules, behaviour policies).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewise.model import ClusterView, Decision, ScaleTo, WorkloadStatus


@dataclass
class HorizontalPodAutoscaler:
    period_s: float = 15.0
    tolerance: float = 0.1
    downscale_window_s: float = 300.0
    _history: dict[str, deque[tuple[float, int]]] = field(default_factory=dict, init=False)

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        decisions: list[Decision] = []
        for status in view.workloads:
            desired = self._recommend(view.time_s, status)
            if desired != status.desired:
                decisions.append(ScaleTo(status.spec.name, desired))
        return decisions

    def _recommend(self, now: float, status: WorkloadStatus) -> int:
        spec = status.spec
        utilization = status.utilization
        if utilization is None:
            raw = status.desired
        else:
            ratio = utilization / spec.target_utilization
            raw = (
                status.desired
                if abs(ratio - 1) <= self.tolerance
                else math.ceil(status.ready * ratio)
            )
        raw = min(max(raw, spec.min_replicas), spec.max_replicas)
        window = self._history.setdefault(spec.name, deque())
        window.append((now, raw))
        while window and window[0][0] < now - self.downscale_window_s:
            window.popleft()
        stabilised = max(r for _, r in window)
        return raw if raw > status.desired else min(stabilised, status.desired)
