"""Co-location in the twin (issue 23): the same batch load with and without co-location,
beside one or more online policies.

Replays ``examples/colocation.yaml`` (or the scenario given) once per online policy named
in ``--online`` (default: the scenario's ``batch.online``), each as three runs on the same
seed: the online policy alone (no batch), ``no-colocation`` and ``colocation``; prints one
JSON object per online policy: the online figures without batch and under each batch
policy (violation minutes, online cost), the batch figures of each (work done, evictions,
lost work, own nodes' cost) and the co-location saving on the batch's cost.

    python bench/colocation.py [scenario.yaml] [--online fixed-on-demand,tidewise] [-j 3]

"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tidewise.sim.services.runner import prepare, run
from tidewise.sim.services.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "colocation.yaml"


def compare(path: Path, online: str, workers: int) -> dict[str, object]:
    scenario, base = load_scenario(path)
    assert scenario.batch is not None, f"{path} has no batch: section"
    batch = scenario.batch.model_copy(update={"online": online})
    policies = [online, "no-colocation", "colocation"]
    scenario = scenario.model_copy(update={"batch": batch, "policies": policies})
    started = time.perf_counter()
    alone, own, shared = run(prepare(scenario, base), workers=workers).runs
    assert own.batch is not None and shared.batch is not None
    saving = 1 - shared.batch.cost_usd / own.batch.cost_usd if own.batch.cost_usd else None
    return {
        "scenario": scenario.name,
        "online_policy": online,
        "online_without_batch": {
            "violation_minutes": alone.violation_minutes,
            "cost_usd": round(alone.cost_usd, 2),
        },
        "runs": {
            r.policy: {
                "online_violation_minutes": r.violation_minutes,
                "online_cost_usd": round(r.cost_usd, 2),
                "total_cost_usd": round(r.cost_usd + r.batch.cost_usd, 2),
                **r.batch.model_dump(),
            }
            for r in (own, shared)
            if r.batch is not None
        },
        "batch_cost_saving": None if saving is None else round(saving, 4),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=EXAMPLE)
    parser.add_argument("--online", help="online policies, comma-separated")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="runs at once (processes)")
    args = parser.parse_args()
    scenario, _ = load_scenario(args.scenario)
    assert scenario.batch is not None, f"{args.scenario} has no batch: section"
    for online in (args.online or scenario.batch.online).split(","):
        print(json.dumps(compare(args.scenario, online, args.jobs)), flush=True)


if __name__ == "__main__":
    main()
