"""Batch provisioning: what the exact, greedy and per-shape plans cost, and how long they take.

    python bench/provisioning.py [--seeds 5] [--json PATH]

Random pending batches of realistic shapes (web and worker CPU pods, GPU-share inference pods,
whole-GPU pods) against the builtin aws-us-east-1 catalog's on-demand and spot offerings.
Prints, per batch size, the mean cost of each plan relative to the per-shape plan and the
mean seconds per plan, as JSON. The exact plan runs only where ``plan_launches`` would use it.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tidewise.capacity.provisioning import (
    EXACT_MAX_PODS,
    plan_cost,
    plan_launches_exact,
    plan_launches_greedy,
    plan_launches_per_shape,
)
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import Launch, Offering, PurchaseOption, Resources

SIZES = (5, 20, 50, 200, 1000)
SHAPES = (
    Resources(cpu_milli=250, memory_mib=512),
    Resources(cpu_milli=500, memory_mib=1024),
    Resources(cpu_milli=1000, memory_mib=2048),
    Resources(cpu_milli=2000, memory_mib=4096),
    Resources(cpu_milli=4000, memory_mib=8192),
    Resources(cpu_milli=1000, memory_mib=8192),
    Resources(cpu_milli=500, memory_mib=12288),
    Resources(cpu_milli=3000, memory_mib=2048),
    Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=250, gpu_memory_mib=4096),
    Resources(cpu_milli=2000, memory_mib=8192, gpu_milli=500, gpu_memory_mib=10240),
    Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=300, gpu_memory_mib=6144),
    Resources(cpu_milli=4000, memory_mib=16384, gpu_count=1),
)
Planner = Callable[[Sequence[Resources], Sequence[Offering]], tuple[list[Launch], list[Resources]]]


def batch(rng: random.Random, size: int) -> list[Resources]:
    """A batch drawn from a few shapes, as a rollout or a burst of several workloads makes it."""
    shapes = rng.sample(SHAPES, rng.randint(2, 5))
    return [rng.choice(shapes) for _ in range(size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
    options = {PurchaseOption.ON_DEMAND, PurchaseOption.SPOT}
    offerings = [o for o in catalog.offerings if o.option in options]
    planners: dict[str, Planner] = {
        "exact": plan_launches_exact,
        "greedy": plan_launches_greedy,
        "per_shape": plan_launches_per_shape,
    }
    rows = []
    for size in SIZES:
        costs: dict[str, list[float]] = {name: [] for name in planners}
        seconds: dict[str, list[float]] = {name: [] for name in planners}
        for seed in range(args.seeds):
            pending = batch(random.Random(seed * 7919 + size), size)
            for name, planner in planners.items():
                if name == "exact" and size > EXACT_MAX_PODS:
                    continue
                started = time.perf_counter()
                launches, _ = planner(pending, offerings)
                seconds[name].append(time.perf_counter() - started)
                costs[name].append(plan_cost(launches))
        base = costs["per_shape"]
        row: dict[str, object] = {"pods": size, "batches": args.seeds}
        for name in planners:
            if not costs[name]:
                continue
            ratios = [c / b for c, b in zip(costs[name], base, strict=True)]
            row[f"{name}_cost_ratio"] = round(sum(ratios) / len(ratios), 4)
            row[f"{name}_cost_usd_h"] = round(sum(costs[name]) / len(costs[name]), 4)
            row[f"{name}_s"] = round(sum(seconds[name]) / len(seconds[name]), 4)
        rows.append(row)
    text = json.dumps(rows, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
