"""The loops with a recording gateway and a fake clock: what is applied, when, and reported."""

import pytest

from tidewise.fleet.failover import FailoverPolicy, ScaleOnCluster, ScaleOptionalDown
from tidewise.fleet.traffic import ShiftRun, ShiftStatus
from tidewise.gateways import GatewayError
from tidewise.gateways.degrade import DegradeError
from tidewise.gateways.loop import run_shift, run_watch


class Recorder:
    def __init__(self, weights):
        self.weights = dict(weights)
        self.applied = []

    def read_weights(self):
        return dict(self.weights)

    def apply(self, weights):
        self.weights.update(weights)
        self.applied.append(dict(weights))


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def watch_ticks(gateway, policy, probes, ticks, gates=dict, emit=None, desired=None):
    """Run the watch on a fake clock for ``ticks`` ticks of 1 s (probes: an iterator of
    health verdicts, or a callable); the events it emitted."""
    clock = Clock()
    events = []
    run_watch(
        gateway,
        policy,
        desired or {"a": 50, "b": 50},
        probes if callable(probes) else lambda: next(probes),
        gates,
        1.0,
        emit or events.append,
        stop=lambda: len(clock.slept) == ticks,
        clock=clock,
        sleep=clock.sleep,
    )
    return events


def test_watch_applies_only_changes_degrades_the_survivor_and_keeps_a_fixed_rate():
    script = (
        [{"a": True, "b": True}] * 2 + [{"a": False, "b": True}] * 2 + [{"a": True, "b": True}] * 4
    )
    probes = iter(script)
    clock = Clock()
    gateway = Recorder({"a": 0, "b": 0})
    events = []
    carried_out = []

    def degrade(action):
        if action.replicas == 0:
            carried_out.append(action)
        else:
            raise DegradeError("b: web/recommend: scale to 3: connection refused")

    def check():
        clock.now += 0.3  # a slow probe must not stretch the tick
        return next(probes)

    run_watch(
        gateway,
        FailoverPolicy(fall=2, rise=2, step=50, step_every=1),
        {"a": 50, "b": 50},
        check,
        lambda: {"a": True, "b": True},
        1.0,
        events.append,
        stop=lambda: len(clock.slept) == len(script),
        capacity={"b": 0.6},
        hook=ScaleOptionalDown({"b": {"web/recommend": 3}}),
        degrade=degrade,
        clock=clock,
        sleep=clock.sleep,
    )
    assert gateway.applied == [
        {"a": 50, "b": 50},
        {"a": 0, "b": 50},
        {"a": 25, "b": 50},
        {"a": 50, "b": 50},
    ]
    assert clock.slept == pytest.approx([0.7] * len(script))
    kinds = [e["event"] for e in events if e["event"] != "applied"]
    assert kinds == ["weights", "weights", "degrade", "weights", "weights", "degrade", "stopped"]
    assert [e["weights"] for e in events if e["event"] == "applied"] == gateway.applied
    reported = [e for e in events if e["event"] == "degrade"]
    assert [(e["workload"], e["replicas"]) for e in reported] == [
        ("web/recommend", 0),
        ("web/recommend", 3),
    ]
    assert carried_out == [ScaleOnCluster("b", "web/recommend", 0)]
    assert reported[0]["applied"] is True
    assert "connection refused" in reported[1]["error"]


def test_shift_rolls_back_on_the_gateway_too():
    gateway = Recorder({"a": 100, "b": 0})
    events = []
    run = run_shift(
        gateway,
        ShiftRun.plan(gateway.read_weights(), "b", 30, 10),
        lambda: {"a": True, "b": gateway.weights["b"] < 20},
        lambda _: True,
        0.0,
        events.append,
        sleep=lambda _: None,
    )
    assert run.status is ShiftStatus.ROLLED_BACK
    assert gateway.applied == [{"b": 10, "a": 90}, {"b": 20, "a": 80}, {"b": 10, "a": 90}]
    assert events[-1]["event"] == "rolled-back" and events[-1]["weights"] == {"b": 10, "a": 90}


def test_watch_puts_back_a_drifted_gateway_and_survives_gateway_errors():
    clock = Clock()
    gateway = Recorder({"a": 0, "b": 0})
    events = []
    reads = {"n": 0}

    def read_weights():
        reads["n"] += 1
        if reads["n"] == 1:
            gateway.weights["a"] = 256  # someone reloaded HAProxy between ticks
        if reads["n"] == 2:
            raise GatewayError("HAProxy runtime API at /run/admin.sock: refused")
        return dict(gateway.weights)

    gateway.read_weights = read_weights
    run_watch(
        gateway,
        FailoverPolicy(),
        {"a": 50, "b": 50},
        lambda: {"a": True, "b": True},
        dict,
        1.0,
        events.append,
        stop=lambda: len(clock.slept) == 4,
        clock=clock,
        sleep=clock.sleep,
    )
    assert gateway.applied == [{"a": 50, "b": 50}, {"a": 50, "b": 50}]
    kinds = [e["event"] for e in events]
    assert kinds == ["weights", "applied", "drift", "applied", "error", "stopped"]
    assert events[2]["found"] == {"a": 256, "b": 50}
    assert (events[4]["kind"], events[4]["during"]) == ("gateway", "read weights")


class Flaky(Recorder):
    """A gateway that fails as told: ``failures`` maps an apply's number (from 1) to the
    error raised after its first ``partial`` clusters went out (a gateway dying half-way)."""

    def __init__(self, weights, failures=None, partial=1, reads=None):
        super().__init__(weights)
        self.failures = failures or {}
        self.partial = partial
        self.reads = reads or {}
        self.calls = 0
        self.read_calls = 0

    def apply(self, weights):
        self.calls += 1
        error = self.failures.get(self.calls)
        order = sorted(weights, key=lambda c: -weights[c])
        for n, cluster in enumerate(order):
            if error is not None and n == self.partial:
                raise error
            self.weights[cluster] = weights[cluster]
        self.applied.append(dict(weights))

    def read_weights(self):
        self.read_calls += 1
        error = self.reads.get(self.read_calls)
        if error is not None:
            raise error
        return dict(self.weights)


def test_watch_keeps_failing_over_through_errors_that_are_not_gateway_errors():
    """Kong answering HTML (a ValueError from the JSON reader), a run file read as a list
    (AttributeError): each is reported with its kind and what was being done, and a cluster
    that dies meanwhile is still taken out."""
    gateway = Flaky({"a": 50, "b": 50}, reads={1: ValueError("Expecting value: line 1 column 1")})
    probes = iter([{"a": True, "b": True}] + [{"a": False, "b": True}] * 5)
    gate_reads = {"n": 0}

    def gates():
        gate_reads["n"] += 1
        if gate_reads["n"] == 3:
            raise AttributeError("'list' object has no attribute 'get'")
        return {"a": True, "b": True}

    events = watch_ticks(gateway, FailoverPolicy(fall=2, rise=2), probes, 6, gates)
    errors = [e for e in events if e["event"] == "error"]
    assert [(e["kind"], e["during"]) for e in errors] == [
        ("internal", "read weights"),
        ("run-file", "read sync gates"),
    ]
    assert "Expecting value" in errors[0]["error"]
    assert gateway.weights == {"a": 0, "b": 50}  # failover went on
    assert events[-1]["event"] == "stopped"


def test_a_failing_gateway_is_retried_with_backoff_and_at_once_on_a_new_decision():
    refused = GatewayError("HAProxy runtime API at /run/admin.sock: refused")
    gateway = Flaky({"a": 0, "b": 0}, failures=dict.fromkeys(range(1, 4), refused), partial=0)
    probes = iter([{"a": True, "b": True}] * 5 + [{"a": False, "b": True}] * 7)
    events = watch_ticks(gateway, FailoverPolicy(fall=1), probes, 12)
    errors = [e for e in events if e["event"] == "error"]
    assert [e["t"] for e in errors] == [0.0, 1.0, 3.0]  # then not before 7.0 ...
    assert [e["retry_in_s"] for e in errors] == [1.0, 2.0, 4.0]
    assert [e["kind"] for e in errors] == ["gateway"] * 3
    assert gateway.calls == 4  # ... but a's failure at 5.0 is a new decision: sent at once
    assert gateway.weights == {"a": 0, "b": 50}
    assert [e["t"] for e in events if e["event"] == "applied"] == [5.0]


def shift_to_half(gateway, b_healthy, events, sleep, **more):
    """``fleet shift --to b --ratio 50 --step 25`` with b's check passing or not."""
    return run_shift(
        gateway,
        ShiftRun.plan(gateway.read_weights(), "b", 50, 25),
        lambda: {"a": True, "b": b_healthy},
        lambda _: True,
        0.0,
        events.append,
        sleep=sleep,
        **more,
    )


def test_a_rollback_the_gateway_half_refuses_is_retried_until_it_carries_last_good():
    """HAProxy left at a:100/b:25 by a rollback that failed after its first server is put
    back to a:100/b:0."""
    refused = GatewayError("set server clusters/b weight 0: connection reset")
    gateway = Flaky({"a": 100, "b": 0}, failures={2: refused, 3: refused})
    events, slept = [], []
    run = shift_to_half(gateway, False, events, sleep=slept.append)
    assert run.status is ShiftStatus.ROLLED_BACK
    assert gateway.weights == {"a": 100, "b": 0}
    kinds = [e["event"] for e in events]
    assert kinds == ["step", "checked", "error", "error", "restored", "rolled-back"]
    assert events[2]["during"] == "roll back to a=100 b=0"
    assert events[4]["weights"] == {"a": 100, "b": 0} and events[4]["attempts"] == 3


def test_a_step_the_gateway_fails_half_way_is_rolled_back():
    refused = GatewayError("set server clusters/b weight 50: connection reset")
    gateway = Flaky({"a": 100, "b": 0}, failures={2: refused})
    events = []
    run = shift_to_half(gateway, True, events, sleep=lambda _: None)
    assert run.status is ShiftStatus.ROLLED_BACK
    assert "gateway failed at a=50 b=50" in run.reason and "connection reset" in run.reason
    assert gateway.weights == {"a": 75, "b": 25}  # the last step that went out and passed


def test_a_rollback_that_never_takes_says_what_the_gateway_carries():
    refused = GatewayError("HAProxy runtime API at /run/admin.sock: refused")
    gateway = Flaky({"a": 100, "b": 0}, failures=dict.fromkeys(range(2, 100), refused))
    clock = Clock()
    events = []
    run = shift_to_half(
        gateway, False, events, sleep=clock.sleep, clock=clock, restore_deadline_s=30.0
    )
    assert run.status is ShiftStatus.ROLLBACK_FAILED
    assert run.reason.startswith("health check failed for b at a=75 b=25; the gateway carries")
    assert events[-1]["event"] == "rollback-failed"
    assert events[-1]["found"] == {"a": 100, "b": 25}
    assert events[-1]["weights"] == {"a": 100, "b": 0}
    assert 30.0 <= clock.now < 40.0
