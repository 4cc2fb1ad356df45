"""Knative's KPA: concurrency autoscaling with stable and panic windows and scale to zero.

The arithmetic of ``knative/serving`` ``pkg/autoscaler/scaling/autoscaler.go`` (``Scale``)
with the documented defaults of ``config-autoscaler``: the stable window averages the
observed concurrency over 60 s, the panic window over 10 % of that (6 s); the desired pods
are ``ceil(average / (target * target_utilization))`` for each window, clamped to
``[floor(ready / max_scale_down_rate), ceil(max_scale_up_rate * ready)]`` (``ready`` counts
at least 1). Panic starts when the panic window wants ``panic_threshold`` (200 %) times the
Ready pods, lasts until a stable window has passed without that, and never scales down
meanwhile. A wish for zero pods is carried out only after it has held for the
scale-to-zero grace period (30 s), during which the activator takes over the route; while at
zero the activator buffers requests, and their concurrency brings a pod back.

The concurrency is requests in flight: buffered, queued in the queue-proxy and being served
(``ServingObservation.concurrency``, averaged over the 2-second tick).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from tidewise.scaling.observation import ReplicaDecision
from tidewise.scaling.serving.observation import ServingObservation

TICK_S = 2.0  # the autoscaler's tick-interval


@dataclass
class KnativeKpa:
    target: float = 100.0  # container-concurrency-target-default (a soft limit)
    target_utilization: float = 0.7  # container-concurrency-target-percentage
    stable_window_s: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold: float = 2.0  # panic-threshold-percentage 200
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_s: float = 30.0
    min_scale: int = 0
    max_scale: int = 0  # 0: unbounded
    period_s: float = TICK_S
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    panic_since: float | None = None
    max_panic_pods: int = 0
    zero_since: float | None = None

    def __post_init__(self) -> None:
        if self.target <= 0 or not 0 < self.target_utilization <= 1:
            raise ValueError("target > 0 and target_utilization in (0, 1]")

    @property
    def panic_window_s(self) -> float:
        return self.stable_window_s * self.panic_window_percentage / 100

    def recommend(self, obs: ServingObservation) -> ReplicaDecision:
        now = obs.now_s
        self.samples.append((now, obs.concurrency))
        while self.samples and self.samples[0][0] <= now - self.stable_window_s:
            self.samples.popleft()
        stable = _mean(v for t, v in self.samples)
        panic = _mean(v for t, v in self.samples if t > now - self.panic_window_s)
        ready = max(1, obs.ready)
        most = math.ceil(self.max_scale_up_rate * ready)
        least = math.floor(ready / self.max_scale_down_rate)
        per_pod = self.target * self.target_utilization
        stable_pods = math.ceil(stable / per_pod - 1e-9)
        panic_pods = math.ceil(panic / per_pod - 1e-9)
        desired = min(max(stable_pods, least), most)
        desired_panic = min(max(panic_pods, least), most)
        over = panic_pods / ready >= self.panic_threshold
        if over:
            self.panic_since = now
        elif self.panic_since is not None and now >= self.panic_since + self.stable_window_s:
            self.panic_since = None
            self.max_panic_pods = 0
        rule = "stable"
        if self.panic_since is not None:
            rule = "panic"
            desired = max(desired, desired_panic, self.max_panic_pods)
            self.max_panic_pods = desired
        if self.max_scale:
            desired = min(desired, self.max_scale)
        desired = max(desired, self.min_scale)
        if desired == 0 and obs.replicas > 0:
            if self.zero_since is None:
                self.zero_since = now
            if now < self.zero_since + self.scale_to_zero_grace_s:
                return ReplicaDecision(1, "grace")
            return ReplicaDecision(0, "to zero")
        self.zero_since = None if desired else self.zero_since
        return ReplicaDecision(desired, rule)


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0
