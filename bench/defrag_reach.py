"""What plans remain for the pods that still fail after our moves on openb, as JSON: why the
defragmentation target (97.0 % at <= 1 % of placed pods moved) resists.

    PYTHONPATH=. python bench/defrag_reach.py --nodes NODES.csv --pods PODS.csv \
        [--seeds 42-51] [--max-moves 4] [--deep 40]

Per seed: the run of ``tidewise bench gpu-pack --moves`` (FGD, 130 %, move budget 1 %, at
most ``--max-moves`` moves per pod), then for every pod still failed at the end: the moves
left in the budget; whether any node's lower bound on the moves that could make room
(``estimate_moves``) is within them; and whether :func:`plan_defrag` finds a plan with up
to ``--deep`` moves (capped by the moves left). The GPU share those pods ask for is the
allocation any such plan could add. Beside it, where the cluster's free GPU share lies at
the end: idle GPUs, GPUs with at least half free, and the share free in slivers under a
quarter of a GPU (too small for any pod the plans would move, all at least that big on
openb's failing runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.defrag import asks_at_least, estimate_moves, landing_cost, plan_defrag
from tidewise.placement.frag import ShapeMix
from tidewise.sim.gpupack.bench import GPU_POLICIES
from tidewise.sim.gpupack.bench.moves import Mover, Packing, run_moves_once
from tidewise.sim.gpupack.openb import load_nodes, load_pods


def reach(packing: Packing, workload, failed: list[int], budget: float, deep: int) -> dict:
    """The plans left for the failed pods (module docstring)."""
    cluster, layout = packing.cluster, packing.layout
    left = math.floor(budget * len(layout)) - packing.moved
    landing = landing_cost(cluster, layout)
    gpu_pods = [i for i in failed if workload[i].wants_gpu]
    within = planned = 0
    milli_within = milli_planned = 0
    no_plan: list[Resources] = []  # requests found planless: a pod asking as much is too
    for i in gpu_pods:
        pod = workload[i]
        if int(estimate_moves(cluster, layout, pod, landing).min()) > left:
            continue
        within += 1
        milli_within += pod.gpu_milli_total
        if any(asks_at_least(pod, r) for r in no_plan):
            continue
        plan = plan_defrag(cluster, layout, pod, max_moves=min(left, deep), rank=packing.rank)
        if plan is None:
            no_plan.append(pod)
        else:
            planned += 1
            milli_planned += pod.gpu_milli_total
    scale = 100 / cluster.gpu_capacity
    real = np.arange(cluster.gpu_free.shape[1])[None, :] < cluster.gpu_count[:, None]
    free = cluster.gpu_free[real]
    return {
        "failed_whole_gpu_pods": sum(bool(workload[i].gpu_count) for i in gpu_pods),
        "failed_share_pods": sum(workload[i].is_gpu_share for i in gpu_pods),
        "free_gpu_pct": round(int(free.sum()) * scale, 2),
        "free_gpu_pct_in_slivers_under_quarter": round(int(free[free < 250].sum()) * scale, 2),
        "idle_gpus": int((free == MILLI_PER_GPU).sum()),
        "gpus_at_least_half_free": int((free >= MILLI_PER_GPU // 2).sum()),
        "failed_gpu_pods": len(gpu_pods),
        "failed_gpu_pct": round(sum(workload[i].gpu_milli_total for i in gpu_pods) * scale, 2),
        "moves_left": left,
        "bound_within_budget": within,
        "bound_within_budget_gpu_pct": round(milli_within * scale, 2),
        "plan_found": planned,
        "plan_found_gpu_pct": round(milli_planned * scale, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--pods", required=True)
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--max-moves", type=int, default=4)
    parser.add_argument("--deep", type=int, default=40)
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = list(range(int(first), int(last or first) + 1))
    nodes, pods = load_nodes(Path(args.nodes)), load_pods(Path(args.pods))
    mix = ShapeMix.from_pods(pods)
    mover = Mover("moves", 0.01, args.max_moves)
    per_seed = {}
    started = time.perf_counter()
    for seed in seeds:
        found: dict = {}

        def inspect(packing, workload, failed, found=found):
            found.update(reach(packing, workload, failed, mover.budget, args.deep))

        run = run_moves_once(nodes, pods, GPU_POLICIES["fgd"], seed, 1.3, mix, mover, inspect)
        per_seed[str(seed)] = {"alloc_pct": run.alloc_pct_retried, "moved": run.moved, **found}
    keys = [k for k in next(iter(per_seed.values())) if k != "alloc_pct"]
    print(
        json.dumps(
            {
                "benchmark": "defrag_reach",
                "date": datetime.date.today().isoformat(),
                "python": platform.python_version(),
                "policy": "fgd",
                "tune": 1.3,
                "move_budget": mover.budget,
                "max_moves": args.max_moves,
                "deep": args.deep,
                "mean": {
                    k: round(float(np.mean([s[k] for s in per_seed.values()])), 2)
                    for k in ["alloc_pct", *keys]
                },
                "per_seed": per_seed,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
