"""Simulated pods as a metrics pipeline reports them, for the replica policies of ``scaling``.

The twins know replica counts and load, not pods; the HPA's replica calculator reads pods.
``pod_samples`` gives the autoscale replay's pods from their creation times (``ReplayPods``
serves them to an HPA with a fingerprint, so repeated states are not recomputed),
``StatusMetrics`` the week twin's from a workload's counts; both follow the same rule: Ready
pods share the load evenly, starting pods are Running, not Ready, and nearly idle.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from tidewise.model import WorkloadStatus
from tidewise.scaling.metrics import Metric
from tidewise.scaling.observation import ServiceModel
from tidewise.scaling.replica_calculator import (
    DEFAULT_SETTINGS,
    PodSample,
    ReplicaCalculationError,
)

STARTING_CPU_FRACTION = 0.1  # of its request: what a pod that is not Ready yet burns
READY_CACHE_SIZE = 4096


def pod_samples(
    created: Sequence[float], now_s: float, service: ServiceModel, load: float
) -> tuple[PodSample, ...]:
    """Pods as a metrics pipeline reports them: Ready pods share the load evenly and burn CPU
    in proportion; starting pods are Running, not Ready, and nearly idle."""
    startup = service.startup_s
    ready = sum(1 for c in created if now_s >= c + startup)
    request = service.cpu_request_milli
    busy = round(request * load / (ready * service.replica_capacity)) if ready else 0
    idle = round(request * STARTING_CPU_FRACTION)
    return tuple(
        PodSample(f"pod-{i}", "Running", True, born, born + startup, False, request, busy, now_s)
        if now_s >= born + startup
        else PodSample(f"pod-{i}", "Running", False, born, born, False, request, idle, now_s)
        for i, born in enumerate(created)
    )


SAMPLE_WINDOW_S = PodSample._field_defaults["window_s"]


@dataclass(frozen=True)
class ReplayPods:
    """The autoscale replay's pods (``pod_samples``) as a ``MetricsSource`` for the HPA.

    The replica calculator compares a pod's times only with each other and with now, and a
    pod older than ``settled_s`` reads the same at any age: Ready, past the CPU initialisation
    period and a full sample window after Ready. So the answer depends on the young pods'
    ages, the number of settled ones and the CPU each burns, which is the ``fingerprint``:
    the HPA answers a repeated one from its memo without building the pods (on the NASA
    trace most syncs repeat an earlier state).
    """

    created: Sequence[float]  # creation times, oldest first
    now_s: float
    service: ServiceModel
    load: float
    settled_s: float = max(
        DEFAULT_SETTINGS.cpu_initialization_period_s,
        DEFAULT_SETTINGS.initial_readiness_delay_s,
    )

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        return pod_samples(self.created, self.now_s, self.service, self.load)

    def fingerprint(self) -> Hashable:
        startup = self.service.startup_s
        settled = max(self.settled_s, startup + SAMPLE_WINDOW_S)
        old = bisect.bisect_right(self.created, self.now_s - settled)
        ready = bisect.bisect_right(self.created, self.now_s - startup)
        request = self.service.cpu_request_milli
        busy = round(request * self.load / (ready * self.service.replica_capacity)) if ready else 0
        young = tuple(self.now_s - born for born in self.created[old:])
        return (old, young, busy, startup, request, self.service.replica_capacity)

    def value(self, metric: Metric) -> int:
        raise ReplicaCalculationError(f"no value for {metric.kind} metric {metric.name}")


@dataclass(frozen=True)
class StatusMetrics:
    """A twin workload's pods as metrics-server would report their CPU.

    The twin knows counts, not pods: Ready pods are taken as Ready long ago (past the CPU
    initialisation period), share the load evenly and burn CPU in
    proportion to it (at the request when serving at capacity); starting pods are Running
    and not Ready (inside the CPU initialisation period, so Kubernetes ignores them);
    pending pods are Pending. Object and External metrics read the twin's named series
    (``value``), so a custom-metric HPA (a Prometheus query in production) runs here too.
    """

    status: WorkloadStatus
    now_s: float
    ready_cache: dict[tuple[int, int, int], tuple[PodSample, ...]] | None = None

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        request = self.status.spec.requests.cpu_milli
        busy = round(request * (self.status.utilization or 0.0))
        key = (self.status.ready, request, busy)
        ready = None if self.ready_cache is None else self.ready_cache.get(key)
        if ready is None:
            # Ready since long before any sync: the samples do not depend on the time, so a
            # controller may keep them while the load and the count stay the same
            ready = tuple(
                PodSample(
                    f"ready-{i}", "Running", True, -math.inf, -math.inf, False, request, busy, None
                )
                for i in range(self.status.ready)
            )
            if self.ready_cache is not None:
                if len(self.ready_cache) > READY_CACHE_SIZE:
                    self.ready_cache.clear()
                self.ready_cache[key] = ready
        samples = list(ready)
        samples += [
            PodSample(
                f"starting-{i}",
                "Running",
                False,
                self.now_s,
                self.now_s,
                False,
                request,
                round(request * STARTING_CPU_FRACTION),
                self.now_s,
            )
            for i in range(self.status.starting)
        ]
        samples += [
            PodSample(f"pending-{i}", "Pending", False, None, None, False, request, None)
            for i in range(self.status.pending)
        ]
        return samples

    def fingerprint(self) -> Hashable:
        """Starting pods are always inside their CPU initialisation period here and Ready
        ones long past it, so the counts and the load decide every answer."""
        s = self.status
        return (s.ready, s.starting, s.pending, s.spec.requests.cpu_milli, s.demand_rps)

    def value(self, metric: Metric) -> int:
        """The twin's named series, in milli-units; a query must name one of them."""
        series = {
            "requests_per_second": self.status.demand_rps,
            "ready_replicas": float(self.status.ready),
        }
        name = metric.query or metric.name
        if name not in series:
            raise ReplicaCalculationError(
                f"the twin has no series {name!r}; it offers {', '.join(series)}"
            )
        return round(1000 * series[name])
