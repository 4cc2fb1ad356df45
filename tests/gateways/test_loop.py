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
    kinds = [e["event"] for e in events]
    assert kinds == ["weights", "weights", "degrade", "weights", "weights", "degrade", "stopped"]
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
    assert [e["event"] for e in events] == ["weights", "drift", "gateway-error", "stopped"]
    assert events[1]["found"] == {"a": 256, "b": 50}
