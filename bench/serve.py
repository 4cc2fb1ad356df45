"""Issue 19's serving targets, measured with the twin of ``tidewise bench serve``.

1. ``conversation``: the Azure conversation trace (one hour, 19,366 requests) replayed as
   recorded, per (model, GPU) pair. Every baseline is tuned fairly: each setting of its main
   knob (``bench.KNOBS``) with its default minimum replicas and with a minimum of one; its best
   is the fewest GPU-hours among the settings that meet the objective (TTFT p95 under 2 s in
   at least 99 % of the minutes). tidewise is reported at its default and tuned the same way.
   Saving = 1 - tidewise / best baseline.
2. ``nasa_day``: a day shaped like NASA-HTTP (Thursday 6 July 1995, US Eastern; the day
   before kept as history for the forecaster) at a chosen busiest minute, token counts drawn
   from the conversation trace (seed 0); the same tuning.
3. ``low_traffic``: the same day scaled down until whole minutes pass without a request, on a
   quarter of an A100: scale to zero against a floor of one replica, for tidewise at the
   objective (its zero budget) and with an objective that accepts cold starts, and for the
   KPA; every request is served (buffered); the added time to first token is reported.
4. ``speed``: ``tidewise bench serve`` on the conversation trace, all four policies, as a
   user runs it (a subprocess): wall and CPU seconds.
5. ``step``: the same fixed fleet replayed at simulation steps of 0.1 to 1 s.

    python bench/serve.py [--quick | --parts nasa_day,low_traffic] [--workers 2] [--json out.json]

``--quick`` keeps the conversation trace and the speed check only (minutes, not the better
part of an hour on two busy cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from tidewise.model.inference import ServiceObjective
from tidewise.scaling.observation import ReplicaDecision
from tidewise.sim.serving import bench
from tidewise.sim.serving.engine import ReplaySettings, replay
from tidewise.sim.serving.metrics import summary
from tidewise.sim.serving.profiles import profile

DATA = Path(
    os.environ.get("TIDEWISE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)
CONV = DATA / "azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv.gz"
NASA = DATA / "nasa-http-1995/nasa_ksc_requests_per_minute.csv"
NASA_DAY = "1995-07-06T00:00:00-04:00"
PAIRS = (("llama-2-70b", "a100"), ("llama-2-70b", "h100"), ("llama-2-7b", "a100"))
KPA_FACTORS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
GRIDS = {
    "hpa-gpu": (50.0, 70.0, 80.0, 90.0, 95.0, 100.0),
    "keda-queue": (1.0, 2.0, 5.0, 20.0, 100.0),
    "tidewise": (1.5, 2.0, 2.33, 3.0, 4.0),
}

_work: dict[str, object] = {}


def _init(requests, server, settings):
    _work.update(requests=requests, server=server, settings=settings)


def _one(job):
    name, knob, floor = job
    settings = _work["settings"]
    s = replace(settings, knobs={name: knob}, floors={name: floor})
    run = bench.run_policy(_work["requests"], _work["server"], name, s)
    row = summary(run, settings.objective)
    row.update(knob=knob, floor=floor)
    row.pop("decided_by")
    return row


def tuned(requests, server, settings, workers, grids=None):
    """Every policy at every setting of its grid, with its default floor and a floor of one;
    per policy the cheapest that meets the objective; tidewise's default reported apart."""
    reference = bench.reference_state(requests, server, settings.objective)
    kpa = bench.default_knob("kpa", reference)
    grids = grids or {**GRIDS, "kpa": tuple(round(kpa * f, 1) for f in KPA_FACTORS)}
    jobs = []
    for name, knobs in grids.items():
        floors = sorted({bench.DEFAULT_FLOORS[name], 1})
        if name == "tidewise":
            floors = [bench.DEFAULT_FLOORS[name]]
        jobs += [(name, knob, floor) for floor in floors for knob in knobs]
    with Pool(workers, _init, (requests, server, settings)) as pool:
        rows = pool.map(_one, jobs)
    out = {}
    for name in grids:
        mine = [r for r in rows if r["policy"] == name]
        out[name] = {"best": bench.cheapest(mine, settings.objective), "tried": mine}
    default = bench.default_knob("tidewise", reference)
    out["tidewise"]["default"] = next(
        r for r in out["tidewise"]["tried"] if r["knob"] == default and r["floor"] == 0
    )
    baselines = [out[n]["best"] for n in grids if n != "tidewise" and out[n]["best"]]
    best = min(baselines, key=lambda r: r["gpu_hours"]) if baselines else None
    fixed = fixed_fleet(requests, server, settings)
    verdict = {
        "best_baseline": best and {k: best[k] for k in ("policy", "knob", "floor", "gpu_hours")},
        "fixed_fleet_in_hindsight": fixed,
    }
    for label, row in (("default", out["tidewise"]["default"]), ("tuned", out["tidewise"]["best"])):
        meets = row is not None and row["slo_attainment"] >= settings.objective.attainment
        saving = 1 - row["gpu_hours"] / best["gpu_hours"] if (best and row) else None
        verdict[f"tidewise_{label}"] = row and {
            "knob": row["knob"],
            "gpu_hours": row["gpu_hours"],
            "slo_attainment": row["slo_attainment"],
            "meets_objective": meets,
            "saving_vs_best_baseline": saving and round(saving, 4),
            "saving_vs_fixed_fleet": round(1 - row["gpu_hours"] / fixed["gpu_hours"], 4),
        }
    return {"verdict": verdict, "policies": out}


def conversation(workers):
    requests = bench.load_workload(
        CONV, None, start=None, hours=1, peak_rps=1, history_days=0, seed=0
    ).requests
    results = {}
    for model, gpu in PAIRS:
        server = profile(model, gpu)
        started = time.time()
        results[server.name] = tuned(requests, server, bench.ServeSettings(), workers)
        results[server.name]["seconds"] = round(time.time() - started, 1)
        print(f"conversation {server.name}: {results[server.name]['verdict']}", file=sys.stderr)
    return results


def nasa_workload(peak_rps):
    return bench.load_workload(
        NASA, CONV, start=NASA_DAY, hours=24, peak_rps=peak_rps, history_days=1, seed=0
    )


def nasa_day(workers, peak_rps=8.0, pair=("llama-2-70b", "a100")):
    workload = nasa_workload(peak_rps)
    server = profile(*pair)
    settings = bench.ServeSettings(forecaster="seasonal-naive", history=workload.history)
    started = time.time()
    reference = bench.reference_state(workload.requests, server, settings.objective)
    kpa = bench.default_knob("kpa", reference)
    grids = {
        "hpa-gpu": (80.0, 90.0, 95.0, 100.0),
        "kpa": tuple(round(kpa * f, 1) for f in (0.2, 0.3, 0.5, 1.0)),
        "keda-queue": (1.0, 5.0, 20.0),
        "tidewise": (1.5, 2.33, 3.0),
    }
    out = tuned(workload.requests, server, settings, workers, grids)
    out.update(
        workload=workload.description,
        profile=server.name,
        seconds=round(time.time() - started, 1),
    )
    print(f"nasa day {server.name}: {out['verdict']}", file=sys.stderr)
    return out


def low_traffic(workers, peak_rps=0.02):
    workload = nasa_workload(peak_rps)
    server = profile("llama-2-7b", "a100", 0.25)
    minutes = np.bincount((workload.requests.arrival_s // 60).astype(int), minlength=1440)
    cases = [
        ("tidewise", ServiceObjective(), 0),
        ("tidewise", ServiceObjective(), 1),
        ("tidewise", ServiceObjective(attainment=0.5), 0),
        ("kpa", ServiceObjective(), 0),
        ("kpa", ServiceObjective(), 1),
    ]
    jobs = [(workload, server, name, objective, floor) for name, objective, floor in cases]
    with Pool(workers) as pool:
        rows = pool.map(_low_case, jobs)
    floors = {(r["policy"], r["objective_attainment"]): r for r in rows if r["floor"] == 1}
    for row in rows:
        one = floors.get((row["policy"], 0.99))
        row["saving_vs_floor_one"] = round(1 - row["gpu_hours"] / one["gpu_hours"], 4)
    return {
        "workload": workload.description,
        "profile": server.name,
        "minutes_without_requests": int(np.count_nonzero(minutes == 0)),
        "cases": rows,
    }


def _low_case(job):
    workload, server, name, objective, floor = job
    settings = bench.ServeSettings(
        objective=objective, floors={name: floor}, forecaster="seasonal-naive",
        history=workload.history,
    )  # fmt: skip
    row = summary(bench.run_policy(workload.requests, server, name, settings), objective)
    row.pop("decided_by")
    row.update(floor=floor, objective_attainment=objective.attainment)
    return row


def speed():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "tidewise.cli", "bench", "serve", "--trace", str(CONV),
         "--model", "llama-2-70b", "--gpu", "a100", "--quiet"],
        check=True,
    )  # fmt: skip
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "target_s": 30}


class _Fixed:
    period_s = 60.0

    def __init__(self, replicas):
        self.replicas = replicas

    def recommend(self, obs):
        return ReplicaDecision(self.replicas, "fixed")


def fixed_fleet(requests, server, settings):
    """The fewest replicas that, running all along, meet the objective: a fleet sized in
    hindsight, the reference no policy is told about. The search starts at the busiest
    minute's rate over one replica's rate at the objective (fewer cannot meet it)."""

    def attempt(replicas):
        s = ReplaySettings(step_s=settings.step_s, initial_replicas=replicas)
        return summary(replay(requests, server, _Fixed(replicas), "fixed", s), settings.objective)

    reference = bench.reference_state(requests, server, settings.objective)
    busiest = np.bincount((requests.arrival_s // 60).astype(np.int64)).max() / 60
    replicas = max(1, int(busiest / reference.rate))
    row = attempt(replicas)
    while row["slo_attainment"] < settings.objective.attainment:
        replicas += 1
        row = attempt(replicas)
    return {
        "replicas": replicas,
        "gpu_hours": row["gpu_hours"],
        "slo_attainment": row["slo_attainment"],
    }


def step_sensitivity():
    requests = bench.load_workload(
        CONV, None, start=None, hours=1, peak_rps=1, history_days=0, seed=0
    ).requests
    server = profile("llama-2-70b", "a100")
    rows = []
    for step in (0.1, 0.25, 0.5, 1.0):
        started = time.process_time()
        run = replay(
            requests, server, _Fixed(5), "fixed", ReplaySettings(step_s=step, initial_replicas=5)
        )
        row = summary(run, ServiceObjective())
        rows.append(
            {
                "step_s": step,
                "cpu_s": round(time.process_time() - started, 2),
                **{
                    k: row[k]
                    for k in (
                        "ttft_p50_s",
                        "ttft_p95_s",
                        "ttft_p99_s",
                        "tpot_p95_s",
                        "slo_attainment",
                    )
                },
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--parts",
        default="speed,conversation,step,nasa_day,low_traffic",
        help="comma-separated parts to run (default: all)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    parts = {
        "speed": speed,
        "conversation": lambda: conversation(args.workers),
        "step": step_sensitivity,
        "nasa_day": lambda: nasa_day(args.workers),
        "low_traffic": lambda: low_traffic(args.workers),
    }
    chosen = ["speed", "conversation"] if args.quick else args.parts.split(",")
    report = {
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "date": time.strftime("%Y-%m-%d"),
    }
    for name in chosen:
        report[name] = parts[name]()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
