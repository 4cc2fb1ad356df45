"""One service replayed against a request-rate trace: the autoscaling benchmark's twin.

The service has replicas that each serve ``replica_capacity`` (in the trace's unit) and need
``startup_s`` from creation to Ready. A policy is asked every ``period_s`` for the replica
count; new pods become Ready after the start-up time, removed pods go at once (not-ready
ones first, then the newest, as a ReplicaSet does). Load is spread evenly over Ready pods.

The service starts Ready with the replicas that carry the first observed load, as a service
that was already running would. Measured after ``warmup_s`` (what forecasters and learnt
schedules may learn from), over observed trace steps only:
- served fraction: served load / offered load, served = min(load, ready x capacity);
- violation minutes: minutes whose served fraction is below 99.9 %;
- replica-hours: pods (starting or ready) x time, since a starting pod is paid for;
- scale events: changes of the desired count.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from tidewise.scaling.observation import (
    ReplicaDecision,
    ReplicaPolicy,
    ServiceModel,
    ServiceObservation,
)
from tidewise.sim.autoscale.serverless import Burst
from tidewise.sim.pod_metrics import ReplayPods
from tidewise.sim.rate_trace import RateTrace

SERVED_OK = 0.999


@dataclass(frozen=True)
class ReplayResult:
    policy: str
    replica_hours: float
    served_fraction: float
    violation_minutes: int
    scale_events: int
    # per trace step over the whole replay, for plots
    replicas: np.ndarray = field(repr=False)
    ready: np.ndarray = field(repr=False)
    served: np.ndarray = field(repr=False)  # fraction of each step's load served; NaN: unmeasured
    rules: dict[str, int] = field(default_factory=dict)
    burst: Burst | None = None  # the serverless containers, when the replay had them

    def summary(self) -> dict[str, object]:
        row: dict[str, object] = {
            "policy": self.policy,
            "replica_hours": round(self.replica_hours, 2),
            "served_fraction": round(self.served_fraction, 6),
            "violation_minutes": self.violation_minutes,
            "scale_events": self.scale_events,
            "decided_by": self.rules,
        }
        if self.burst is not None:
            vm_usd = self.replica_hours * self.burst.pricing.vm_per_replica_hour
            row |= {
                "serverless_pod_hours": round(self.burst.pod_seconds / 3600, 2),
                "serverless_usd": round(self.burst.usd, 2),
                "replica_usd": round(vm_usd, 2),
                "cost_usd": round(vm_usd + self.burst.usd, 2),
            }
        return row


@dataclass
class _Pods:
    """Creation times of the service's pods, oldest first."""

    created: list[float] = field(default_factory=list)

    def ready(self, now: float, startup_s: float) -> int:
        return bisect.bisect_right(self.created, now - startup_s)

    def scale(self, target: int, now: float, startup_s: float) -> None:
        while len(self.created) < target:
            self.created.append(now)
        if len(self.created) > target:
            starting = [c for c in self.created if now < c + startup_s]
            ready = [c for c in self.created if now >= c + startup_s]
            drop = len(self.created) - target
            cut = min(drop, len(starting))
            starting = starting[: len(starting) - cut]
            ready = ready[: len(ready) - (drop - cut)]
            self.created = sorted(ready + starting)


def replay(
    trace: RateTrace,
    service: ServiceModel,
    policy: ReplicaPolicy,
    name: str,
    period_s: float = 15.0,
    warmup_s: float = 0.0,
    progress: Callable[[float], None] | None = None,
    burst: Burst | None = None,
) -> ReplayResult:
    """Run ``policy`` over the whole trace; measure after ``warmup_s``. With ``burst``, the
    load the Ready replicas miss runs on serverless containers (:mod:`.serverless`), and each
    container past its break-even keeps a VM replica asked for beside the policy's."""
    steps = len(trace.values)
    ticks_per_step = max(1, round(trace.step_s / period_s))
    tick_s = trace.step_s / ticks_per_step
    epoch = datetime.fromtimestamp(trace.start_unix_s, tz=UTC)
    pods = _Pods()
    desired = _initial_replicas(trace, service)
    pods.scale(desired, -service.startup_s, service.startup_s)  # Ready at t=0
    replicas = np.zeros(steps)
    ready_mean = np.zeros(steps)
    step_served = np.full(steps, np.nan)
    served_min: dict[int, list[float]] = {}
    offered = served = pod_seconds = 0.0
    events = 0
    rules: dict[str, int] = {}
    for step in range(steps):
        load = trace.values[step]
        seen = not math.isnan(load)
        for k in range(ticks_per_step):
            now = step * trace.step_s + k * tick_s
            ready = pods.ready(now, service.startup_s)
            obs = ServiceObservation(
                now_s=now,
                wall=epoch + timedelta(seconds=now),
                replicas=desired,
                pods=(),
                load=load if seen else None,
                source=ReplayPods(pods.created, now, service, load if seen else 0.0),
            )
            decision: ReplicaDecision = policy.recommend(obs)
            wanted = decision.replicas
            if burst is not None:
                burst.follow(load if seen else 0.0, service.replica_capacity, ready, now)
                if past := burst.past_break_even(now):
                    wanted = max(wanted, ready + past)  # the Ready ones are all needed too
            target = min(max(wanted, service.min_replicas), service.max_replicas)
            if target != desired:
                events += now >= warmup_s
                desired = target
            rules[decision.rule] = rules.get(decision.rule, 0) + 1
            pods.scale(desired, now, service.startup_s)
            ready = pods.ready(now, service.startup_s)
            if burst is not None:
                burst.follow(load if seen else 0.0, service.replica_capacity, ready, now)
                ready += burst.ready(now)
            replicas[step] += len(pods.created) / ticks_per_step
            ready_mean[step] += ready / ticks_per_step
            if now < warmup_s or not seen:
                continue
            capacity = ready * service.replica_capacity
            got = min(load, capacity)
            offered += load * tick_s
            served += got * tick_s
            pod_seconds += len(pods.created) * tick_s
            if burst is not None:
                burst.accrue(tick_s)
            minute = int(now // 60)
            served_min.setdefault(minute, [0.0, 0.0])
            served_min[minute][0] += load * tick_s
            served_min[minute][1] += got * tick_s
            so_far = 0.0 if math.isnan(step_served[step]) else step_served[step]
            step_served[step] = so_far + (got / load if load > 0 else 1.0) / ticks_per_step
        if progress is not None:
            progress((step + 1) * trace.step_s)
    violations = sum(1 for o, s in served_min.values() if o > 0 and s / o < SERVED_OK)
    return ReplayResult(
        policy=name,
        replica_hours=pod_seconds / 3600,
        served_fraction=served / offered if offered else 1.0,
        violation_minutes=violations,
        scale_events=events,
        replicas=replicas,
        ready=ready_mean,
        served=step_served,
        rules=rules,
        burst=burst,
    )


def _initial_replicas(trace: RateTrace, service: ServiceModel) -> int:
    observed = trace.values[trace.observed]
    first = float(observed[0]) if len(observed) else 0.0
    return min(max(service.replicas_for(first), service.min_replicas), service.max_replicas)
