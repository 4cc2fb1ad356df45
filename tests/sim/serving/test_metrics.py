"""Per-minute objective attainment with nearest-rank percentiles, and the summary row."""

import numpy as np
import pytest

from tests.factories import TOY_SERVER
from tidewise.model.inference import ServiceObjective
from tidewise.sim.serving.engine import ServingRun
from tidewise.sim.serving.metrics import minute_slo, nearest_rank, summary


def test_nearest_rank_by_hand():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 0.5, np.nan])
    groups = np.array([0, 0, 0, 0, 0, 2, 2])
    # group 0: p95 of 5 values is the ceil(4.75) = 5th smallest; group 2 ignores NaN
    assert nearest_rank(values, groups, 95).tolist() == [10.0, 0.5]
    assert nearest_rank(values, groups, 50).tolist() == [3.0, 0.5]


def run_with(ttft, arrivals, outputs=None, buffered=None):
    n = len(arrivals)
    arrivals = np.array(arrivals, float)
    outputs = np.array(outputs if outputs is not None else [3] * n)
    first = arrivals + np.array(ttft, float)
    return ServingRun(
        policy="p",
        profile=TOY_SERVER,
        duration_s=180.0,
        step_s=1.0,
        arrival_s=arrivals,
        first_token_s=first,
        done_s=first + 0.02 * (outputs - 1),
        prompt_tokens=np.full(n, 100),
        output_tokens=outputs,
        buffered=np.array(buffered if buffered is not None else [False] * n),
        replica=np.zeros(n, np.int64),
        admitted_s=arrivals,
        replicas=np.ones(180),
        ready=np.ones(180),
        gpu_seconds=180.0,
        cold_starts=2,
        zero_seconds=0.0,
    )


def test_a_minute_fails_when_its_p95_ttft_is_over_the_objective():
    # minute 0: 20 requests, one slow (rank 19 of 20 is the p95: still fast); minute 2: one slow
    arrivals = [i * 2.0 for i in range(20)] + [150.0]
    ttft = [0.1] * 19 + [9.0] + [3.0]
    slo = minute_slo(run_with(ttft, arrivals), ServiceObjective(ttft_s=2.0))
    assert slo.minute.tolist() == [0, 2]
    assert slo.ok.tolist() == [True, False]


def test_a_tpot_objective_also_counts():
    run = run_with([0.1, 0.1], [0.0, 1.0], outputs=[3, 3])  # tpot 0.02
    assert minute_slo(run, ServiceObjective(tpot_s=0.05)).ok.tolist() == [True]
    assert minute_slo(run, ServiceObjective(tpot_s=0.01)).ok.tolist() == [False]


def test_summary_reports_cost_latency_and_the_cold_start_penalty():
    run = run_with([0.11, 5.11], [0.0, 70.0], buffered=[False, True])
    row = summary(run, ServiceObjective())
    assert row["gpu_hours"] == pytest.approx(0.05)
    assert row["slo_attainment"] == 0.5 and row["violated_minutes"] == 1
    assert row["served"] == 2 and row["buffered"] == 1 and row["cold_starts"] == 2
    # the buffered request waited 5.11 s where an idle replica answers in 0.11 s
    assert row["added_ttft_buffered_mean_s"] == pytest.approx(5.0)
