"""A small replay with hand-set totals: two policies, two workloads, eight hours of minutes."""

import numpy as np
import pytest

from tidewise.model.results import RunResult, SimReport, TimeSeries, WorkloadResult

STEPS = 480
STEP_S = 60.0
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def _shaped(total: float, shape: np.ndarray) -> list[float]:
    """Per-step costs of the given shape that add up to ``total``."""
    return list(total * shape / shape.sum())


def _series(demand: dict[str, np.ndarray], capacity: dict[str, np.ndarray], cost: dict):
    return TimeSeries(
        step_s=STEP_S,
        start_unix_s=START,
        demand_rps={k: list(v) for k, v in demand.items()},
        capacity_rps={k: list(v) for k, v in capacity.items()},
        cost_usd=cost,
    )


@pytest.fixture
def report() -> SimReport:
    t = np.arange(STEPS)
    wave = 1.0 + 0.8 * np.sin(2 * np.pi * t / STEPS)
    demand = {"chat-api": 400.0 * wave, "embeddings": 150.0 * wave[::-1]}
    fixed_capacity = {name: np.full(STEPS, d.max() * 1.1) for name, d in demand.items()}
    # the elastic policy lags demand by five minutes, so it falls short on every rise
    elastic_capacity = {name: np.roll(d, 5) * 1.05 for name, d in demand.items()}
    flat = np.ones(STEPS)
    fixed = RunResult(
        policy="fixed-nodes",
        cost_usd=1000.0,
        cost_by_option_usd={"on-demand": 1000.0, "spot": 0.0, "reserved": 0.0, "serverless": 0.0},
        served_fraction=1.0,
        violation_minutes=0.0,
        vcpu_hours=3200.0,
        gpu_hours=64.0,
        node_launches=12,
        interruptions=0,
        launch_failures=0,
        workloads=[
            WorkloadResult(
                name="chat-api", served_fraction=1.0, violation_minutes=0.0, peak_replicas=24
            ),
            WorkloadResult(
                name="embeddings", served_fraction=1.0, violation_minutes=0.0, peak_replicas=8
            ),
        ],
        wall_s=0.5,
        timeseries=_series(
            demand,
            fixed_capacity,
            {"on-demand": _shaped(1000.0, flat), "spot": [0.0] * STEPS},
        ),
    )
    elastic = RunResult(
        policy="tidewise",
        cost_usd=580.0,
        cost_by_option_usd={"on-demand": 300.0, "spot": 250.0, "reserved": 0.0, "serverless": 30.0},
        served_fraction=0.9925,
        violation_minutes=37.5,
        vcpu_hours=1850.25,
        gpu_hours=40.5,
        node_launches=57,
        interruptions=3,
        launch_failures=1,
        workloads=[
            WorkloadResult(
                name="chat-api", served_fraction=0.991, violation_minutes=30.0, peak_replicas=22
            ),
            WorkloadResult(
                name="embeddings", served_fraction=0.9975, violation_minutes=7.5, peak_replicas=9
            ),
        ],
        wall_s=0.7,
        timeseries=_series(
            demand,
            elastic_capacity,
            {
                "on-demand": _shaped(300.0, wave),
                "spot": _shaped(250.0, wave),
                "serverless": _shaped(30.0, np.maximum(wave - 1.5, 0.01)),
            },
        ),
    )
    return SimReport(
        scenario="nasa-week",
        horizon_s=STEPS * STEP_S,
        seed=7,
        runs=[fixed, elastic],
        lower_bound_usd=1.0,
        startup_lower_bound_usd=1.25,
    )
