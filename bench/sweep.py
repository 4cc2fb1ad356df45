"""``tidewise sweep`` of 64 runs of the default week (16 settings x 4 seeds) under the
``tidewise`` policy in local processes: its wall time, and each run's, as JSON.

    python bench/sweep.py [--jobs 2] [--out FOLDER]

The settings: every workload's overload risk (0.0005, 0.001, 0.002, 0.005) against the web
tier's on-demand base (0, 1, 2, 4 replicas); seeds 42-45; a violation budget of 30 minutes
(given, so no baseline runs beside the 64). With ``--out`` an earlier folder resumes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tidewise.cli.sim import default_scenario_path

PARAMS = (
    "workloads.*.overload_risk=0.0005,0.001,0.002,0.005",
    "workloads.web.capacity.on_demand_base=0,1,2,4",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="sweep-bench-")) / "runs"
    report = out.parent / "sweep.json"
    command = [
        *(sys.executable, "-m", "tidewise.cli", "sweep", str(default_scenario_path())),
        *(arg for p in PARAMS for arg in ("-p", p)),
        *("--policy", "tidewise", "--seeds", "42-45", "--violation-budget", "30"),
        *("-j", str(args.jobs), "--out", str(out), "--json", str(report), "-q"),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    result = json.loads(report.read_text())
    lines = (out / "runs.jsonl").read_text().splitlines()
    run_walls = [json.loads(line)["run"]["wall_s"] for line in lines]
    pick = result["points"][result["recommended"]]
    print(
        json.dumps(
            {
                "runs": len(result["runs"]),
                "jobs": args.jobs,
                "wall_s": round(wall, 1),
                "run_wall_s_median": round(statistics.median(run_walls), 2),
                "run_wall_s_max": round(max(run_walls), 2),
                "front": sum(p["on_front"] for p in result["points"]),
                "recommended": pick["setting"],
                "recommended_cost_usd": round(pick["cost_usd"], 2),
                "recommended_violation_minutes": pick["violation_minutes"],
                "rule": result["rule"],
            }
        )
    )


if __name__ == "__main__":
    main()
