"""The two loops that drive a gateway: a gradual shift, and failover from active checks.

Both read the clock and sleep here, not in the policies; both report every change as one
event (a dict, printed as a JSON line by the CLI), so a run can be followed and measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from tidewise.fleet.failover import (
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
from tidewise.gateways.degrade import DegradeError

Emit = Callable[[dict[str, Any]], None]
Probe = Callable[[], Mapping[str, bool]]


def run_shift(
    gateway: Gateway,
    run: ShiftRun,
    check: Probe,
    gates: GateCheck,
    interval_s: float,
    emit: Emit,
    sleep: Callable[[float], None] = time.sleep,
) -> ShiftRun:
    """Apply each step, wait ``interval_s``, health-check; put back the last good weights when
    a check fails. Returns the finished run (``DONE``, ``BLOCKED`` or ``ROLLED_BACK``)."""
    while True:
        run = run.proceed(gates)
        if run.status is not ShiftStatus.RUNNING:
            break
        step = run.pending
        gateway.apply(step)
        emit({"event": "step", "weights": step})
        sleep(interval_s)
        health = check()
        run = run.checked(health)
        emit({"event": "checked", "weights": step, "healthy": dict(health)})
    if run.status is ShiftStatus.ROLLED_BACK:
        gateway.apply(run.last_good)
    emit({"event": run.status.value, "weights": run.last_good, "reason": run.reason})
    return run


def run_watch(
    gateway: Gateway,
    policy: FailoverPolicy,
    desired: Mapping[str, int],
    check: Probe,
    gates: Callable[[], Mapping[str, bool]],
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
    one, so slow probes do not stretch the failover bound. A change of decision is applied at
    once; otherwise the gateway is read and put back if it drifted (a reload, a hand edit), so
    the loop is level-triggered. A gateway error is reported and retried on the next tick.
    The hook's decisions are reported and, given ``degrade``, carried out (once: a failure is
    reported, not retried).
    """
    state: dict[str, ClusterHealth] = {}
    decided: dict[str, int] | None = None
    short: dict[str, Shortfall] = {}
    start = clock()
    tick = 0
    while not stop():
        health = check()
        state = policy.observe(state, health, gates())
        weights = effective_weights(desired, state)
        changed = weights != decided
        if changed:
            emit(
                {
                    "event": "weights",
                    "t": clock() - start,
                    "weights": weights,
                    "healthy": dict(health),
                    "admitted": {c: h.admitted for c, h in state.items()},
                }
            )
            decided = weights
        try:
            if changed:
                gateway.apply(weights)
            elif (found := gateway.read_weights()) != weights:
                emit({"event": "drift", "t": clock() - start, "found": found, "weights": weights})
                gateway.apply(weights)
        except GatewayError as err:
            emit({"event": "gateway-error", "t": clock() - start, "error": str(err)})
        if changed and hook is not None:
            now_short = shortfalls(weights, capacity or {})
            for action in degradation(short, now_short, hook):
                _degrade(action, degrade, emit)
            short = now_short
        tick += 1
        sleep(max(0.0, start + tick * interval_s - clock()))
    emit({"event": "stopped", "weights": decided or {}, "summary": fmt(decided or {})})


def _degrade(
    action: ScaleOnCluster, degrade: Callable[[ScaleOnCluster], None] | None, emit: Emit
) -> None:
    event = {
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
    emit(event)
