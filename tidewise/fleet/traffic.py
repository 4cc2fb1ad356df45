"""Weighted traffic between clusters: the model a gateway adapter reads and writes, and shifts.

Weights are relative, as both gateways treat them (Kong's upstream targets, HAProxy's
servers): a cluster receives ``weight / sum(weights)`` of the requests, and 0 takes it out.
A plan speaks in percent (weights summing to :data:`TOTAL`) so that ``--ratio 30`` reads the
same on either gateway.

A shift never jumps: it moves the chosen cluster's share by at most ``step`` points at a time
and the caller health-checks after each step (:class:`ShiftRun`), going back to the last
weights that passed when a check fails. Traffic to a cluster only ever rises when its sync
gates are green, because a cluster whose services are not all started yet would answer the
traffic it is sent with errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

TOTAL = 100
Weights = Mapping[str, int]
GateCheck = Callable[[str], bool]


class TrafficError(ValueError):
    """A request the model cannot honour; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class Target:
    """One cluster's entry point as the gateway sees it."""

    cluster: str
    address: str  # host:port the gateway sends to (Kong target, HAProxy server address)
    weight: int
    healthy: bool = True
    gates_green: bool = True  # every sync gate of this cluster passed (fleet sync's verdict)


@dataclass(frozen=True, slots=True)
class TrafficModel:
    targets: tuple[Target, ...]

    def __post_init__(self) -> None:
        if not self.targets:
            raise TrafficError("clusters: at least one cluster is needed")
        names = [t.cluster for t in self.targets]
        if len(set(names)) != len(names):
            raise TrafficError(f"clusters: names must be unique (got {names})")
        for t in self.targets:
            if t.weight < 0:
                raise TrafficError(f"{t.cluster}.weight: must be 0 or more (got {t.weight})")

    def weights(self) -> dict[str, int]:
        return {t.cluster: t.weight for t in self.targets}

    def shares(self) -> dict[str, float]:
        return shares(self.weights())


def shares(weights: Weights) -> dict[str, float]:
    """Each cluster's fraction of the requests (all 0 when no cluster takes traffic)."""
    total = sum(weights.values())
    return {c: (w / total if total else 0.0) for c, w in weights.items()}


def split(total: int, base: Weights) -> dict[str, int]:
    """``total`` divided in proportion to ``base`` (equally when ``base`` is all zero).

    Largest remainder, ties by name: the parts always add up to ``total`` exactly and the same
    input always gives the same answer, so re-planning never nudges weights by one.
    """
    names = sorted(base)
    if not names:
        return {}
    weights = {c: base[c] for c in names} if sum(base.values()) else dict.fromkeys(names, 1)
    whole = sum(weights.values())
    exact = {c: total * weights[c] / whole for c in names}
    parts = {c: int(exact[c]) for c in names}
    left = total - sum(parts.values())
    for c in sorted(names, key=lambda c: (parts[c] - exact[c], c))[:left]:
        parts[c] += 1
    return parts


def plan_shift(weights: Weights, to: str, ratio: int, step: int) -> tuple[dict[str, int], ...]:
    """The weights to apply one after the other to bring ``to`` to ``ratio`` percent.

    The other clusters share the rest in proportion to what they carry now. The last step is
    exactly the goal; an empty plan means the weights already are the goal.
    """
    if to not in weights:
        raise TrafficError(f"--to: unknown cluster {to!r}; known: {', '.join(sorted(weights))}")
    if not 0 <= ratio <= TOTAL:
        raise TrafficError(f"--ratio: a percentage from 0 to {TOTAL} (got {ratio})")
    if not 0 < step <= TOTAL:
        raise TrafficError(f"--step: percentage points per step, 1 to {TOTAL} (got {step})")
    others = {c: w for c, w in weights.items() if c != to}
    if not others and ratio != TOTAL:
        raise TrafficError(f"--ratio: {to!r} is the only cluster, so it takes {TOTAL}")
    now = round(TOTAL * shares(weights)[to]) if sum(weights.values()) else 0
    goals = [*range(now, ratio, step if ratio > now else -step)][1:]
    goals.append(ratio)
    plan: list[dict[str, int]] = []
    previous = dict(weights)
    for share in goals:
        step_weights = {to: share, **split(TOTAL - share, others)}
        if step_weights != previous:
            plan.append(step_weights)
            previous = step_weights
    return tuple(plan)


def rising(before: Weights, after: Weights) -> list[str]:
    """Clusters whose share of the traffic goes up from ``before`` to ``after``."""
    old, new = shares(before), shares(after)
    return sorted(c for c in after if new[c] > old.get(c, 0.0))


class ShiftStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    BLOCKED = "blocked"  # a cluster would gain traffic before its sync gates are green
    ROLLED_BACK = "rolled-back"
    ROLLBACK_FAILED = "rollback-failed"  # the gateway would not take the last good weights


@dataclass(frozen=True, slots=True)
class ShiftRun:
    """Where a gradual shift stands; the caller applies ``pending``, waits, checks, reports.

    ``proceed`` decides whether the next step may go out (gates), ``checked`` takes the health
    of the clusters after it went out. ``last_good`` is what the gateway should carry when the
    run stops for any reason other than success.
    """

    steps: tuple[dict[str, int], ...]
    last_good: dict[str, int]
    done: int = 0  # steps applied and found healthy
    status: ShiftStatus = ShiftStatus.RUNNING
    reason: str = ""

    @classmethod
    def plan(cls, weights: Weights, to: str, ratio: int, step: int) -> ShiftRun:
        steps = plan_shift(weights, to, ratio, step)
        status = ShiftStatus.RUNNING if steps else ShiftStatus.DONE
        return cls(steps=steps, last_good=dict(weights), status=status)

    @property
    def pending(self) -> dict[str, int]:
        if self.status is not ShiftStatus.RUNNING:
            raise TrafficError(f"the shift is {self.status.value}; nothing is pending")
        return self.steps[self.done]

    def proceed(self, gates: GateCheck) -> ShiftRun:
        """Hold the shift (``BLOCKED``) when the next step raises a cluster whose gates are red."""
        if self.status is not ShiftStatus.RUNNING:
            return self
        red = [c for c in rising(self.last_good, self.pending) if not gates(c)]
        if red:
            return replace(
                self,
                status=ShiftStatus.BLOCKED,
                reason=f"sync gates of {', '.join(red)} are not green; traffic held",
            )
        return self

    def checked(self, healthy: Mapping[str, bool]) -> ShiftRun:
        """After ``pending`` went out: every cluster that takes traffic must be healthy."""
        step = self.pending
        sick = sorted(c for c, w in step.items() if w > 0 and not healthy.get(c, False))
        if sick:
            return replace(
                self,
                status=ShiftStatus.ROLLED_BACK,
                reason=f"health check failed for {', '.join(sick)} at {fmt(step)}; "
                f"back to {fmt(self.last_good)}",
            )
        done = self.done + 1
        return replace(
            self,
            done=done,
            last_good=step,
            status=ShiftStatus.DONE if done == len(self.steps) else ShiftStatus.RUNNING,
        )

    def failed(self, error: str) -> ShiftRun:
        """``pending`` did not (all) go out: the gateway may carry part of it, so the run
        goes back to ``last_good`` as after a failed check."""
        return replace(
            self,
            status=ShiftStatus.ROLLED_BACK,
            reason=f"gateway failed at {fmt(self.pending)} ({error}); "
            f"back to {fmt(self.last_good)}",
        )

    def rollback_failed(self, found: Weights) -> ShiftRun:
        """The way back did not take: the gateway carries ``found``, not ``last_good``."""
        cause = self.reason.split("; back to ")[0]
        return replace(
            self,
            status=ShiftStatus.ROLLBACK_FAILED,
            reason=f"{cause}; the gateway carries {fmt(found) or 'unknown weights'}, not "
            f"{fmt(self.last_good)}: it would not take them back",
        )


def fmt(weights: Weights) -> str:
    """``a=70 b=30``: the one way weights are written in messages and events."""
    return " ".join(f"{c}={w}" for c, w in sorted(weights.items()))
