"""Failover between clusters from active health checks, with hysteresis, and degradation.

Each tick the caller probes every cluster's entry point once and hands the results in; the
policy answers how much of its desired weight each cluster may carry (``admitted``, percent).

* ``fall`` consecutive failed probes take a cluster to 0 at once: traffic to a dead cluster
  is lost traffic, so leaving is fast.
* ``rise`` consecutive successful probes (and green sync gates) earn the first step back, then
  one step of ``step`` percent every ``step_every`` ticks while probes keep succeeding; any
  failure pauses the climb until ``rise`` successes again. Coming back is slow on purpose: a
  cluster that just recovered is often cold (empty caches, scaled-in workloads).

No flapping, formally (tests/fleet/test_failover.py checks it on any probe sequence): a
cluster's weight drops only after ``fall`` failures in a row and rises only after ``rise``
successes in a row, so a rise and a later drop are at least ``fall`` ticks apart and a drop and
a later rise at least ``rise`` ticks apart; a probe sequence that alternates faster than that
never moves a weight.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tidewise.fleet.traffic import TrafficError, Weights, shares

FULL = 100  # percent of a cluster's desired weight


@dataclass(frozen=True, slots=True)
class ClusterHealth:
    admitted: int = FULL  # percent of the desired weight the cluster carries now
    failures: int = 0  # consecutive failed probes
    successes: int = 0  # consecutive successful probes
    since_change: int = 0  # ticks since ``admitted`` last changed


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    fall: int = 3
    rise: int = 3
    step: int = 25
    step_every: int = 2

    def __post_init__(self) -> None:
        for name in ("fall", "rise", "step_every"):
            if getattr(self, name) < 1:
                raise TrafficError(f"failover.{name}: at least 1 (got {getattr(self, name)})")
        if not 0 < self.step <= FULL:
            raise TrafficError(f"failover.step: percent per step, 1 to {FULL} (got {self.step})")

    def observe(
        self,
        state: Mapping[str, ClusterHealth],
        probes: Mapping[str, bool],
        gates: Mapping[str, bool],
    ) -> dict[str, ClusterHealth]:
        """One tick: the next health of every probed cluster (new clusters start admitted)."""
        return {
            c: self._tick(state.get(c, ClusterHealth()), ok, gates.get(c, True))
            for c, ok in probes.items()
        }

    def _tick(self, h: ClusterHealth, ok: bool, gates_green: bool) -> ClusterHealth:
        since = h.since_change + 1
        if not ok:
            failures = h.failures + 1
            if failures >= self.fall and h.admitted > 0:
                return ClusterHealth(admitted=0, failures=failures, successes=0, since_change=0)
            return replace(h, failures=failures, successes=0, since_change=since)
        successes = h.successes + 1
        climb = (
            h.admitted < FULL
            and gates_green
            and successes >= self.rise
            and (h.admitted == 0 or since >= self.step_every)
        )
        if climb:
            admitted = min(FULL, h.admitted + self.step)
            return ClusterHealth(admitted, failures=0, successes=successes, since_change=0)
        return replace(h, failures=0, successes=successes, since_change=since)

    def recovery_ticks(self) -> int:
        """Ticks of unbroken success from a cluster at 0 back to its full weight."""
        return self.rise + (math.ceil(FULL / self.step) - 1) * self.step_every


def effective_weights(desired: Weights, state: Mapping[str, ClusterHealth]) -> dict[str, int]:
    """The weights the gateway should carry: each desired weight scaled by what is admitted.

    A cluster admitted at all keeps at least weight 1, so the first step back is never lost
    to rounding.
    """
    weights = {}
    for c, w in desired.items():
        admitted = state[c].admitted if c in state else FULL
        weights[c] = 0 if admitted == 0 or w == 0 else max(1, round(w * admitted / FULL))
    return weights


def failover_bound_s(interval_s: float, fall: int, probe_timeout_s: float, apply_s: float) -> float:
    """Worst time from a cluster dying to its weight being 0 at the gateway.

    It dies just after a probe passed; the next probe starts at most one interval later and
    the ``fall``-th failing one ``fall`` intervals later, answers within its timeout (probes
    time out before the next tick), and one apply call follows.
    """
    return interval_s * fall + probe_timeout_s + apply_s


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A cluster receives more of the traffic than it can carry (both as fractions of all)."""

    cluster: str
    share: float
    capacity: float


def shortfalls(weights: Weights, capacity: Mapping[str, float]) -> dict[str, Shortfall]:
    """Clusters whose share exceeds their capacity; clusters without a stated capacity never do."""
    share = shares(weights)
    return {
        c: Shortfall(c, share[c], capacity[c])
        for c in sorted(weights)
        if c in capacity and share[c] > capacity[c] + 1e-9
    }


@dataclass(frozen=True, slots=True)
class ScaleOnCluster:
    """Set a workload's replicas on one cluster (``namespace/name`` of a Deployment)."""

    cluster: str
    workload: str
    replicas: int


class DegradationHook(Protocol):
    """Called when a cluster becomes short of capacity (``shortfall``) and when it no longer
    is (``shortfall=None``); returns what to do, which the caller applies. Pure: no I/O."""

    def __call__(self, cluster: str, shortfall: Shortfall | None) -> Sequence[ScaleOnCluster]: ...


@dataclass(frozen=True, slots=True)
class ScaleOptionalDown:
    """The hook the docs describe: optional services scale to 0 on a short cluster and back to
    their usual replicas when the shortfall ends (``optional``: cluster -> workload -> usual)."""

    optional: Mapping[str, Mapping[str, int]]

    def __call__(self, cluster: str, shortfall: Shortfall | None) -> Sequence[ScaleOnCluster]:
        usual = self.optional.get(cluster, {})
        return [
            ScaleOnCluster(cluster, w, 0 if shortfall else replicas)
            for w, replicas in sorted(usual.items())
        ]


def degradation(
    before: Mapping[str, Shortfall],
    after: Mapping[str, Shortfall],
    hook: DegradationHook,
) -> list[ScaleOnCluster]:
    """The hook's answers for every cluster whose shortness changed between two ticks."""
    actions: list[ScaleOnCluster] = []
    for c in sorted(set(before) ^ set(after)):
        actions.extend(hook(c, after.get(c)))
    return actions
