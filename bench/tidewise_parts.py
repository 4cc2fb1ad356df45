"""What each part of the ``tidewise`` capacity stack is worth: the policy with one part out.

Replays a scenario (default: the bundled week) under the full ``tidewise`` policy and under
copies without replicas sized to a service level (the HPA + forecast at the target
utilisation instead), without serverless bursts, without spot-pool rules (spread and bands),
without consolidation, without the reserved floor and without the workloads' on-demand
bases, in one process on the same seed, and prints one JSON object per variant: cost,
service (also per workload), violation minutes, evictions, serverless spend, wall time.

    python bench/tidewise_parts.py [scenario.yaml]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tidewise.cli.sim import default_scenario_path
from tidewise.sim.services.policies import tidewise_controllers
from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import load_scenario
from tidewise.sim.services.twin import Twin, TwinSetup

VARIANTS: dict[str, dict[str, bool]] = {
    "tidewise": {},
    "no-slo": {"slo": False},
    "no-serverless": {"serverless": False},
    "no-spot-pools": {"spot_pools": False},
    "no-consolidation": {"consolidation": False},
    "no-reserved-floor": {"reserved_floor": False},
    "no-on-demand-base": {},
}
NO_BASE = "no-on-demand-base"  # the same policy on workloads without their on-demand base


def without_bases(setup: TwinSetup) -> TwinSetup:
    """The scenario with every workload's on-demand base at zero."""
    bare = tuple(
        replace(w, rules=replace(w.rules, on_demand_base=0, on_demand_base_pct=0.0))
        for w in setup.workloads
    )
    return replace(setup, workloads=bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=default_scenario_path())
    args = parser.parse_args()
    scenario, base = load_scenario(args.scenario)
    setup = prepare(scenario, base).setup
    for name, parts in VARIANTS.items():
        started = time.perf_counter()
        run_setup = without_bases(setup) if name == NO_BASE else setup
        controllers = tidewise_controllers(run_setup, **parts)
        result = Twin(run_setup, controllers, np.random.default_rng(scenario.seed)).run(name)
        print(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "variant": name,
                    "cost_usd": round(result.cost_usd, 2),
                    "served_fraction": round(result.served_fraction, 5),
                    "violation_minutes": result.violation_minutes,
                    "workloads": {
                        w.name: [round(w.served_fraction, 5), w.violation_minutes]
                        for w in result.workloads
                    },
                    "evictions": result.evictions,
                    "pods_lost": result.pods_lost,
                    "serverless_usd": round(result.cost_by_option_usd["serverless"], 2),
                    "on_demand_usd": round(result.cost_by_option_usd["on-demand"], 2),
                    "wall_s": round(time.perf_counter() - started, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
