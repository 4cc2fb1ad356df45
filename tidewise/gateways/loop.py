"""The two loops that drive a gateway: a gradual shift, and failover from active checks.

Both read the clock and sleep here, not in the policies; both report every change as one
event (a dict, printed as a JSON line by the CLI), so a run can be followed and measured.

Failover must outlive whatever goes wrong around it. Every error met in a tick is caught,
classified (``gateway``: the gateway refused or was unreachable; ``run-file``: a sync's run
file or the gates could not be read; ``probe``: the health checks themselves broke;
``degrade``: the hook's scaling failed; ``internal``: anything else, a bug included, logged
with its traceback), reported as an ``error`` event naming what was being done, and the loop
goes on. A gateway that fails is tried again with backoff (1, 2, 4 ... up to
:data:`BACKOFF_MAX_TICKS` ticks apart) so a dead Admin API is not hammered, but a new decision
(a cluster to take out) is sent at once. What the gateway carries is compared with what was
decided on every tick it is reached, so a call that failed half-way is repaired.

A shift's way back is verified the same way: the last good weights are applied and read back
until the gateway carries them (:func:`restore`), with backoff, until a deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.fleet.failover import (
    FULL,
    ClusterHealth,
    DegradationHook,
    FailoverPolicy,
    ScaleOnCluster,
    Shortfall,
    degradation,
    effective_weights,
    shortfalls,
)
from tidewise.fleet.traffic import GateCheck, ShiftRun, ShiftStatus, fmt
from tidewise.gateways import Gateway, GatewayError
from tidewise.gateways.config import Gate
from tidewise.gateways.degrade import DegradeError

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]
Probe = Callable[[], Mapping[str, bool]]
Gates = Callable[[], Mapping[str, "bool | Gate"]]
BACKOFF_MAX_TICKS = 8
RESTORE_DEADLINE_S = 120.0
RESTORE_PAUSE_S = (0.5, 8.0)  # first pause between tries of a rollback, and the longest


def kind_of(error: BaseException) -> str:
    """The class of an error met while talking to the gateway."""
    return "gateway" if isinstance(error, GatewayError) else "internal"


def _error_event(kind: str, during: str, error: BaseException, **more: Any) -> dict[str, Any]:
    if kind == "internal":  # not an outage we know: a bug, keep its traceback in the log
        log.error("%s: %s", during, error, exc_info=error)
    return {"event": "error", "kind": kind, "during": during, "error": str(error), **more}


@dataclass
class Backoff:
    """When the gateway may be called again after ``failures`` failed calls in a row."""

    failures: int = 0
    next_tick: int = 0

    def failed(self, tick: int) -> int:
        """Record a failure at ``tick``; the ticks until the next try."""
        self.failures += 1
        wait = min(2 ** (self.failures - 1), BACKOFF_MAX_TICKS)
        self.next_tick = tick + wait
        return wait

    def succeeded(self) -> None:
        self.failures, self.next_tick = 0, 0

    def due(self, tick: int) -> bool:
        return tick >= self.next_tick


def run_shift(
    gateway: Gateway,
    run: ShiftRun,
    check: Probe,
    gates: GateCheck,
    interval_s: float,
    emit: Emit,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    restore_deadline_s: float = RESTORE_DEADLINE_S,
) -> ShiftRun:
    """Apply each step, wait ``interval_s``, health-check; put back the last good weights when
    a check fails or a step does not go out whole. Returns the finished run (``DONE``,
    ``BLOCKED``, ``ROLLED_BACK`` or, when the gateway would not take them back,
    ``ROLLBACK_FAILED``)."""
    while True:
        run = run.proceed(gates)
        if run.status is not ShiftStatus.RUNNING:
            break
        step = run.pending
        started = clock()
        try:
            gateway.apply(step)
        except Exception as error:  # a step half out is rolled back, whatever stopped it
            emit(_error_event(kind_of(error), f"apply {fmt(step)}", error))
            run = run.failed(str(error))
            break
        emit({"event": "step", "weights": step, "seconds": clock() - started})
        sleep(interval_s)
        health = check()
        run = run.checked(health)
        emit({"event": "checked", "weights": step, "healthy": dict(health)})
    if run.status is ShiftStatus.ROLLED_BACK:
        found = restore(gateway, run.last_good, emit, sleep, clock, restore_deadline_s)
        if found != run.last_good:
            run = run.rollback_failed(found or {})
            emit({"event": run.status.value, "weights": run.last_good, "found": found})
            return run
    emit({"event": run.status.value, "weights": run.last_good, "reason": run.reason})
    return run


def restore(
    gateway: Gateway,
    weights: Mapping[str, int],
    emit: Emit,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    deadline_s: float,
) -> dict[str, int] | None:
    """Apply ``weights`` and read them back until the gateway carries them (a call that
    failed half-way leaves some servers changed and others not), pausing 0.5 s doubling to
    8 s between tries, for ``deadline_s``. Returns what the gateway carries at the end
    (``None`` if it could not even be read)."""
    end = clock() + deadline_s
    pause = RESTORE_PAUSE_S[0]
    attempts = 0
    found: dict[str, int] | None = None
    during = f"roll back to {fmt(weights)}"
    while True:
        attempts += 1
        try:
            gateway.apply(weights)
        except Exception as error:
            emit(_error_event(kind_of(error), during, error, retry_in_s=pause))
        try:
            found = gateway.read_weights()
        except Exception as error:
            emit(_error_event(kind_of(error), f"read weights after {during}", error))
        if found == dict(weights):
            emit({"event": "restored", "weights": dict(weights), "attempts": attempts})
            return found
        if clock() >= end:
            return found
        sleep(min(pause, end - clock()))
        pause = min(pause * 2, RESTORE_PAUSE_S[1])


def run_watch(
    gateway: Gateway,
    policy: FailoverPolicy,
    desired: Mapping[str, int],
    check: Probe,
    gates: Gates,
    interval_s: float,
    emit: Emit,
    stop: Callable[[], bool],
    capacity: Mapping[str, float] | None = None,
    hook: DegradationHook | None = None,
    degrade: Callable[[ScaleOnCluster], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Probe on a fixed-rate tick, feed the policy, keep the gateway at what it decides.

    Ticks are scheduled from the start (``start + k * interval``), not from the end of the last
    one, so slow probes do not stretch the failover bound (a tick that overran skips the ticks
    it missed rather than running them back to back). A change of decision is applied at
    once; otherwise the gateway is read and put back if it drifted (a reload, a hand edit, a
    call that failed half-way), so the loop is level-triggered. The hook's decisions are
    reported and, given ``degrade``, carried out (once: a failure is reported, not retried).
    """
    state: dict[str, ClusterHealth] = {}
    decided: dict[str, int] | None = None
    short: dict[str, Shortfall] = {}
    problems: dict[str, str | None] = {}  # run-file problems reported, by cluster
    backoff = Backoff()
    start = clock()
    tick = 0

    def now() -> float:
        return clock() - start

    while not stop():
        try:
            health = check()
        except Exception as error:  # no verdict this tick: the state stays as it was
            emit(_error_event("probe", "probe the clusters", error, t=now()))
            health = None
        if health is not None:
            green = _gates(gates, health, problems, emit, now)
            state = policy.observe(state, health, green)
            weights = effective_weights(desired, state)
            changed = weights != decided
            if changed:
                emit(
                    {
                        "event": "weights",
                        "t": now(),
                        "weights": weights,
                        "healthy": dict(health),
                        "admitted": {c: h.admitted for c, h in state.items()},
                        "engaged": any(h.admitted < FULL for h in state.values()),
                    }
                )
                decided = weights
            if changed or backoff.due(tick):
                _keep(gateway, weights, changed, tick, backoff, emit, now, interval_s)
            if changed and hook is not None:
                now_short = shortfalls(weights, capacity or {})
                for action in degradation(short, now_short, hook):
                    _degrade(action, degrade, emit)
                short = now_short
        tick = max(tick + 1, int(now() // interval_s) + 1) if interval_s > 0 else tick + 1
        sleep(max(0.0, start + tick * interval_s - clock()))
    emit({"event": "stopped", "weights": decided or {}, "summary": fmt(decided or {})})


def _gates(
    gates: Gates,
    clusters: Mapping[str, bool],
    reported: dict[str, str | None],
    emit: Emit,
    now: Callable[[], float],
) -> dict[str, bool]:
    """Each cluster's gates as booleans; a run file that cannot be read is reported when its
    problem first shows (not every tick), and when the gates cannot be read at all none is
    green (traffic never rises on what cannot be checked)."""
    try:
        found = {c: g if isinstance(g, Gate) else Gate(bool(g)) for c, g in gates().items()}
    except Exception as error:
        emit(_error_event("run-file", "read sync gates", error, t=now()))
        return dict.fromkeys(clusters, False)
    for cluster, gate in found.items():
        if gate.problem and gate.problem != reported.get(cluster):
            during = f"read {cluster}'s sync gates"
            emit(
                {
                    "event": "error",
                    "kind": "run-file",
                    "during": during,
                    "error": gate.problem,
                    "t": now(),
                }
            )
        reported[cluster] = gate.problem
    return {c: g.green for c, g in found.items()}


def _keep(
    gateway: Gateway,
    weights: dict[str, int],
    changed: bool,
    tick: int,
    backoff: Backoff,
    emit: Emit,
    now: Callable[[], float],
    interval_s: float,
) -> None:
    """Bring the gateway to ``weights``: at once when they are new, else after reading it
    (a drift is put back). A failure is reported with when the next try will be."""
    during = f"apply {fmt(weights)}" if changed else "read weights"
    try:
        if not changed:
            found = gateway.read_weights()
            if found == weights:
                backoff.succeeded()
                return
            emit({"event": "drift", "t": now(), "found": found, "weights": weights})
            during = f"apply {fmt(weights)}"
        started = now()
        gateway.apply(weights)
        emit({"event": "applied", "t": now(), "weights": weights, "seconds": now() - started})
        backoff.succeeded()
    except Exception as error:
        wait = backoff.failed(tick)
        emit(_error_event(kind_of(error), during, error, t=now(), retry_in_s=wait * interval_s))


def _degrade(
    action: ScaleOnCluster, degrade: Callable[[ScaleOnCluster], None] | None, emit: Emit
) -> None:
    event: dict[str, Any] = {
        "event": "degrade",
        "cluster": action.cluster,
        "workload": action.workload,
        "replicas": action.replicas,
    }
    if degrade is not None:
        try:
            degrade(action)
            event["applied"] = True
        except DegradeError as err:
            event["error"] = str(err)
        except Exception as err:
            # not an API refusal: a bug, logged with its traceback (counted as a degrade
            # error by the degrade event below, as a refusal is)
            emit(_error_event("internal", f"scale {action.workload} on {action.cluster}", err))
            event["error"] = str(err)
    emit(event)
