"""The ATC'23 table: every policy on every openb pod list found, side by side.

    python bench/gpu_pack.py [--data DIR] [--seeds 42-51] [--policy P ...] [--json PATH]
                             [--moves [--move-budget 1%]]

Prints a markdown table of GPU allocation % at 130 % arrived demand (mean over seeds) per
workload and policy, and writes every summary as JSON. Same protocol as
`tidewise bench gpu-pack` (docs/gpu-pack.md). With ``--moves``, also each policy with our
moves and with the FGD simulator's descheduling policies, and a second table: allocation
(with the failed pods retried after a pass) against the pods moved (docs/defrag.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tidewise.cli.bench import parse_share
from tidewise.cli.params import parse_seeds
from tidewise.sim.gpupack.bench import GPU_POLICIES, run_benchmark
from tidewise.sim.gpupack.bench.moves import MOVERS, Mover, run_moves_benchmark
from tidewise.sim.gpupack.openb import load_nodes, load_pods

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba-gpu-v2023"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--policy", action="append", choices=list(GPU_POLICIES))
    parser.add_argument("--workload", action="append", help="pod list stem(s); default: all")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--moves", action="store_true", help="also every way of moving pods")
    parser.add_argument("--move-budget", default="1%")
    args = parser.parse_args()
    movers = [Mover(kind, parse_share(args.move_budget, "--move-budget")) for kind in MOVERS]
    seeds = parse_seeds(args.seeds)
    policies = args.policy or list(GPU_POLICIES)
    nodes = load_nodes(args.data / "openb_node_list_gpu_node.csv")
    files = sorted(args.data.glob("openb_pod_list_*.csv"))
    if args.workload:
        files = [f for f in files if f.stem in args.workload]
    rows: dict[str, dict[str, float]] = {}
    everything = []
    moved_rows = []
    for path in files:
        started = time.perf_counter()
        summaries = run_benchmark(nodes, load_pods(path), path.stem, policies, seeds, 1.3)
        everything.extend(s.model_dump(mode="json") for s in summaries)
        top = {s.policy: s.alloc_pct_at.get("130", float("nan")) for s in summaries}
        rows[path.stem.removeprefix("openb_pod_list_")] = top
        print(f"{path.stem}: {time.perf_counter() - started:.0f} s {top}", file=sys.stderr)
        if args.moves:
            pods = load_pods(path)
            moved = run_moves_benchmark(nodes, pods, path.stem, policies, movers, seeds, 1.3)
            everything.extend(s.model_dump(mode="json") for s in moved)
            moved_rows.extend((path.stem.removeprefix("openb_pod_list_"), s) for s in moved)
    print("| workload | " + " | ".join(policies) + " |")
    print("|---|" + "---|" * len(policies))
    for workload, top in rows.items():
        best = max(top.values())
        cells = [f"**{top[p]:.2f}**" if top[p] == best else f"{top[p]:.2f}" for p in policies]
        print(f"| {workload} | " + " | ".join(cells) + " |")
    if moved_rows:
        print("\n| workload | policy + moves | @130% | after pass | failed retried | moved % |")
        print("|---|---|---|---|---|---|")
        for workload, r in moved_rows:
            cells = (r.alloc_pct_at.get("130", float("nan")), r.alloc_pct_end, r.alloc_pct_retried)
            numbers = " | ".join(f"{c:.2f}" for c in (*cells, r.moved_pct_of_placed))
            print(f"| {workload} | {r.policy} | {numbers} |")
    if args.json is not None:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")


if __name__ == "__main__":
    main()
