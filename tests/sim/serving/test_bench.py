"""The serving benchmark's harness: a shared start, fair tuning, the workload loader."""

import numpy as np
import pytest

from tidewise.sim.serving import bench
from tidewise.sim.serving.profiles import profile
from tidewise.sim.serving.requests import RequestTrace

SERVER = profile("llama-2-7b", "a100")


def steady(rate=2.0, minutes=6, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rate * minutes * 60)
    arrivals = np.sort(rng.random(n) * minutes * 60)
    return RequestTrace("steady", 0.0, arrivals, np.full(n, 500), np.full(n, 50), minutes * 60.0)


def test_every_policy_starts_from_what_the_busiest_early_minute_needs():
    requests = steady(rate=6.0)
    reference = bench.reference_state(requests, SERVER, bench.ServeSettings().objective)
    start = bench.initial_replicas(requests, SERVER, reference, bench.ServeSettings())
    busiest = np.bincount((requests.arrival_s // 60).astype(int)).max() / 60
    assert start == int(np.ceil(busiest / reference.rate))
    runs = bench.run_serving(requests, SERVER, bench.ServeSettings(), ("kpa", "tidewise"))
    for run in runs:
        assert run.ready[0] == start


def test_tuning_keeps_the_cheapest_setting_that_meets_the_objective(monkeypatch):
    # (knob, floor) -> (GPU-hours, attainment): the cheapest, (4, 0), misses the objective
    outcomes = {
        (1.0, 0): (9.0, 1.0),
        (4.0, 0): (2.0, 0.95),
        (1.0, 1): (7.0, 0.995),
        (4.0, 1): (8.0, 1.0),
    }

    def fake_run(requests, profile, name, settings):
        return (settings.knobs[name], settings.floors[name])

    def fake_summary(key, objective):
        gpu, attained = outcomes[key]
        return {"gpu_hours": gpu, "slo_attainment": attained}

    monkeypatch.setattr(bench, "run_policy", fake_run)
    monkeypatch.setattr(bench, "summary", fake_summary)
    tuned = bench.tune(steady(), SERVER, "kpa", [1.0, 4.0], [0, 1], bench.ServeSettings())
    assert [(r["knob"], r["floor"]) for r in tuned.tried] == list(outcomes)
    assert (tuned.best["knob"], tuned.best["floor"]) == (1.0, 1)
    outcomes.update({k: (v[0], 0.5) for k, v in outcomes.items()})
    assert (
        bench.tune(steady(), SERVER, "kpa", [1.0, 4.0], [0, 1], bench.ServeSettings()).best is None
    )


def test_a_rate_trace_needs_a_token_source(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("time,rps\n" + "".join(f"{60 * i},{i % 5 + 1}\n" for i in range(3000)))
    with pytest.raises(ValueError, match="--tokens"):
        bench.load_workload(path, None, start=None, hours=1, peak_rps=1, history_days=1, seed=0)


def test_assignments_name_a_policy():
    assert bench.parse_assignments(["kpa=12.5"], "--knob", float) == {"kpa": 12.5}
    with pytest.raises(ValueError, match="--knob: 'magic=1'"):
        bench.parse_assignments(["magic=1"], "--knob", float)
    with pytest.raises(ValueError, match="is not a number"):
        bench.parse_assignments(["kpa=lots"], "--knob", float)
