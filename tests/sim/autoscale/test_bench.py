"""The autoscale bench's harness: its policies in worker processes give the sequential rows."""

import numpy as np

from tidewise.sim.autoscale.bench import AutoscaleSettings, run_autoscale
from tidewise.sim.rate_trace import RateTrace

POLICIES = ["hpa", "combined", "slo"]


def test_policies_in_processes_give_the_sequential_rows_exactly():
    """Two days of a daily wave with noise, three policies (one learns a schedule, one
    forecasts), serverless on: two workers give the one-process rows to the last digit, in
    policy order, and progress reaches the caller for each."""
    rng = np.random.default_rng(7)
    minutes = np.arange(2 * 1440)
    load = 200 + 150 * np.sin(2 * np.pi * minutes / 1440) + rng.normal(0, 20, minutes.size)
    trace = RateTrace("wave", 0.0, 60.0, np.maximum(load, 0.0), "requests")
    settings = AutoscaleSettings(warmup_days=1.0, serverless=True)
    seen: dict[str, float] = {}

    _, alone = run_autoscale(trace, settings, POLICIES)
    _, side_by_side = run_autoscale(
        trace, settings, POLICIES, lambda name, t: seen.__setitem__(name, t), workers=2
    )

    assert [r.summary() for r in side_by_side] == [r.summary() for r in alone]
    assert [r.policy for r in side_by_side] == POLICIES
    assert set(seen) == set(POLICIES)
