"""How fast the twin replays: simulated seconds per wall second, default scenario and 10x.

Runs the bundled one-week scenario and a copy with 10x the traffic (and 10x the replica
limits, so ~10x the nodes) side by side in one process, every policy, ``--repeat`` times,
and prints JSON. Compare the two sizes as ratios: absolute times on shared machines are noise.
With ``--record`` it appends the figures to bench/RESULTS.md.

    python bench/sim_speed.py [--repeat 3] [--record]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tidewise.cli.sim import default_scenario_path
from tidewise.sim.services.policies import POLICIES
from tidewise.sim.services.runner import PreparedScenario, prepare
from tidewise.sim.services.scenario import Scenario, load_scenario
from tidewise.sim.services.twin import Twin

RESULTS = Path(__file__).with_name("RESULTS.md")


def scaled(scenario: Scenario, factor: float) -> Scenario:
    workloads = [
        w.model_copy(
            update={
                "trace": w.trace.model_copy(update={"scale": w.trace.scale * factor}),
                "replicas": w.replicas.model_copy(update={"max": int(w.replicas.max * factor)}),
            }
        )
        for w in scenario.workloads
    ]
    return scenario.model_copy(
        update={"workloads": workloads, "name": f"{scenario.name}-x{factor:g}"}
    )


def replay(prepared: PreparedScenario, policy: str) -> dict[str, float]:
    controllers = POLICIES[policy][1](prepared.setup)
    twin = Twin(prepared.setup, controllers, np.random.default_rng(prepared.scenario.seed))
    peak_nodes = 0

    def track(_: float) -> None:
        nonlocal peak_nodes
        peak_nodes = max(peak_nodes, len(twin.nodes))

    started = time.perf_counter()
    result = twin.run(policy, track)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "node_launches": result.node_launches, "peak_nodes_hourly": peak_nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    base_scenario, base = load_scenario(default_scenario_path())
    sizes = {"1x": prepare(base_scenario, base), "10x": prepare(scaled(base_scenario, 10), base)}
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        size: {p: [] for p in base_scenario.policies} for size in sizes
    }
    for _ in range(args.repeat):
        for size, prepared in sizes.items():  # interleaved, so both see the same machine
            for policy in base_scenario.policies:
                samples[size][policy].append(replay(prepared, policy))
    horizon = base_scenario.horizon
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for size, per_policy in samples.items():
        figures[size] = {}
        for policy, runs in per_policy.items():
            wall = statistics.median(r["wall_s"] for r in runs)
            figures[size][policy] = {
                "median_wall_s": round(wall, 3),
                "sim_s_per_wall_s": round(horizon / wall),
                "peak_nodes_hourly": runs[0]["peak_nodes_hourly"],
                "node_launches": runs[0]["node_launches"],
            }
        figures[size]["all_policies_wall_s"] = {
            "median_wall_s": round(sum(f["median_wall_s"] for f in figures[size].values()), 3)
        }
    growth = {
        policy: {
            "wall_ratio": round(
                figures["10x"][policy]["median_wall_s"] / figures["1x"][policy]["median_wall_s"], 2
            ),
            "node_ratio": round(
                figures["10x"][policy]["peak_nodes_hourly"]
                / figures["1x"][policy]["peak_nodes_hourly"],
                2,
            ),
        }
        for policy in base_scenario.policies
    }
    out = {
        "benchmark": "sim_speed",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "scenario": base_scenario.name,
        "horizon_s": horizon,
        "repeat": args.repeat,
        "sizes": figures,
        "growth_10x_over_1x": growth,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.record:
        with RESULTS.open("a") as f:
            f.write(
                f"\n### sim_speed, {out['date']}\n\n`python bench/sim_speed.py "
                f"--repeat {args.repeat}` on {out['machine']}:\n\n```json\n{text}\n```\n"
            )


if __name__ == "__main__":
    main()
