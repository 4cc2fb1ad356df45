"""The ATC'23 table: every policy on every openb pod list found, side by side.

    python bench/gpu_pack.py [--data DIR] [--seeds 42-51] [--policy P ...] [--json PATH]

Prints a markdown table of GPU allocation % at 130 % arrived demand (mean over seeds) per
workload and policy, and writes every summary as JSON. Same protocol as
`tidewise bench gpu-pack` (docs/gpu-pack.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tidewise.cli.bench import parse_seeds
from tidewise.sim.gpupack.bench import GPU_POLICIES, run_benchmark
from tidewise.sim.gpupack.openb import load_nodes, load_pods

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba-gpu-v2023"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--policy", action="append", choices=list(GPU_POLICIES))
    parser.add_argument("--workload", action="append", help="pod list stem(s); default: all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    policies = args.policy or list(GPU_POLICIES)
    nodes = load_nodes(args.data / "openb_node_list_gpu_node.csv")
    files = sorted(args.data.glob("openb_pod_list_*.csv"))
    if args.workload:
        files = [f for f in files if f.stem in args.workload]
    rows: dict[str, dict[str, float]] = {}
    everything = []
    for path in files:
        started = time.perf_counter()
        summaries = run_benchmark(nodes, load_pods(path), path.stem, policies, seeds, 1.3)
        everything.extend(s.model_dump(mode="json") for s in summaries)
        top = {s.policy: s.alloc_pct_at.get("130", float("nan")) for s in summaries}
        rows[path.stem.removeprefix("openb_pod_list_")] = top
        print(f"{path.stem}: {time.perf_counter() - started:.0f} s {top}", file=sys.stderr)
    print("| workload | " + " | ".join(policies) + " |")
    print("|---|" + "---|" * len(policies))
    for workload, top in rows.items():
        best = max(top.values())
        cells = [f"**{top[p]:.2f}**" if top[p] == best else f"{top[p]:.2f}" for p in policies]
        print(f"| {workload} | " + " | ".join(cells) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")


if __name__ == "__main__":
    main()
