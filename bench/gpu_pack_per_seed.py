"""Every per-seed figure of `tidewise bench gpu-pack` as JSON, to diff two revisions.

    PYTHONPATH=/tmp/before python bench/gpu_pack_per_seed.py --policy fgd > before.json
    python bench/gpu_pack_per_seed.py --policy fgd > after.json
    cmp before.json after.json

The bench's summary keeps the allocation per seed but only the mean fragmentation; a speed-up
must move neither, so this writes, per policy and seed on openb's default trace (tune 1.3),
the failed pods and the allocation and fragmentation at every arrived level, sorted, and no
timing: equal files are equal results (issue 22, "FGD batched" in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tidewise.cli.params import parse_seeds
from tidewise.placement.frag import ShapeMix
from tidewise.sim.gpupack.bench import GPU_POLICIES, run_once
from tidewise.sim.gpupack.openb import load_nodes, load_pods

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba-gpu-v2023"


def figures(data: Path, policy: str, seed: int) -> dict:
    nodes = load_nodes(data / "openb_node_list_gpu_node.csv")
    pods = load_pods(data / "openb_pod_list_default.csv")
    run = run_once(nodes, pods, GPU_POLICIES[policy], seed, 1.3, ShapeMix.from_pods(pods))
    return {"failed": run.failed, "alloc_pct_at": run.alloc_pct_at, "frag_pct_at": run.frag_pct_at}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--policy", action="append", choices=list(GPU_POLICIES), required=True)
    args = parser.parse_args()
    tasks = [(policy, seed) for policy in args.policy for seed in parse_seeds(args.seeds)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        futures = [pool.submit(figures, args.data, policy, seed) for policy, seed in tasks]
        out = {f"{p}/{s}": f.result() for (p, s), f in zip(tasks, futures, strict=True)}
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
