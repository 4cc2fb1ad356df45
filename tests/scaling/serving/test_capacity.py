"""The steady-state capacity model, on the engine tests' toy profile."""

import math

import pytest

from tests.factories import TOY_SERVER as PROFILE
from tidewise.model.inference import ServiceObjective
from tidewise.scaling.serving.capacity import slo_rate, steady_state


def test_steady_state_by_hand():
    # 1 request/s of 100 prompt and 10 output tokens; 10 ms iterations, 1,000 prefill tokens/s
    s = steady_state(PROFILE, 1.0, 100, 10)
    assert s.load == pytest.approx(0.1)  # 100 / 1,000 s of prefill, no per-token decode cost
    assert s.tpot_s == pytest.approx(0.01 / 0.9)  # t0 / (1 - load)
    assert s.batch == pytest.approx(10 * 0.01 / 0.9)  # Little: rate x output x tpot
    chunk = 512 - 1  # the budget less one decoding sequence
    prefill_rate = chunk / (0.01 + chunk / 1000)
    rho = 100 / prefill_rate
    wait = rho / (1 - rho) * 100 / prefill_rate
    assert s.ttft_s == pytest.approx(100 / prefill_rate + 3 * wait + 0.01 / 0.9)


def test_overload_has_no_steady_state():
    s = steady_state(PROFILE, 10.0, 100, 10)  # load 1.0
    assert math.isinf(s.tpot_s) and math.isinf(s.ttft_s)


def test_the_slo_rate_is_the_busiest_that_keeps_every_bound():
    objective = ServiceObjective(ttft_s=0.5)
    s = slo_rate(PROFILE, 100, 10, objective, max_load=0.9)
    assert s.ttft_s <= 0.5 + 1e-6 and s.load <= 0.9 + 1e-9
    above = steady_state(PROFILE, s.rate * 1.001, 100, 10)
    assert above.ttft_s > 0.5 or above.load > 0.9


def test_a_tpot_objective_binds_first_when_tight():
    loose = slo_rate(PROFILE, 100, 10, ServiceObjective(ttft_s=5.0))
    tight = slo_rate(PROFILE, 100, 10, ServiceObjective(ttft_s=5.0, tpot_s=0.0125))
    assert tight.rate < loose.rate
    assert tight.tpot_s == pytest.approx(0.0125, rel=1e-6)


def test_an_objective_no_replica_meets_is_an_error():
    with pytest.raises(ValueError, match="out of reach"):
        slo_rate(PROFILE, 5000, 10, ServiceObjective(ttft_s=1.0))
