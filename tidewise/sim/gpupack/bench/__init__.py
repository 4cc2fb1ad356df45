"""The ATC'23 GPU-packing experiment: one-pass online placement of a shuffled, tuned workload.

Protocol (Weng et al., USENIX ATC'23, and their simulator; research notes gpu-sharing.md
section 1.6): the GPU node list; the pod list sampled with replacement until its GPU requests
reach ``tune`` x cluster GPUs (or trimmed at random if it asks for more); shuffled per seed;
no departures; a pod that does not fit fails and is never retried. After every pod we record
the arrived GPU demand (every pod counts, placed or not) and the allocated GPUs, both as % of
cluster GPU capacity; the allocation at an arrived level is the mean over the events whose
arrived % rounds to it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from tidewise.model import Resources
from tidewise.model.results import GpuPackSummary
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import FragmentationIndex, ShapeMix
from tidewise.placement.gpu_policies import (
    BestFitPolicy,
    DotProductPolicy,
    FgdPolicy,
    GpuClusteringPolicy,
    GpuPackingPolicy,
    GpuPolicy,
    RandomPolicy,
    TidewisePolicy,
)

LEVELS = np.arange(0, 131)

CPU_PODS_ON_GPU_NODES = True
"""As the FGD paper's simulator: no taint keeps CPU-only pods off GPU nodes (fit rule)."""

PolicyFactory = Callable[[np.ndarray, ShapeMix], GpuPolicy]


@dataclass(frozen=True)
class PackRun:
    policy: str
    seed: int
    pods: int
    failed: int
    wall_s: float
    alloc_pct_at: dict[int, float]
    frag_pct_at: dict[int, float]


def tune(
    pods: Sequence[Resources], capacity_milli: int, ratio: float, rng: np.random.Generator
) -> list[Resources]:
    """The simulator's workload: the trace shuffled, then resized to ``ratio`` x capacity.

    Short of the target, pods drawn with replacement from the trace are appended (after the
    shuffled trace, in draw order) until a draw whose per-GPU share would cross the target;
    past it, random pods are removed until it is met.
    """
    workload = [pods[i] for i in rng.permutation(len(pods))]
    target = ratio * capacity_milli
    demand = sum(p.gpu_milli_total for p in workload)
    if demand < target:
        while True:
            pod = pods[int(rng.integers(len(pods)))]
            if demand + pod.gpu_milli_each > target:
                break
            workload.append(pod)
            demand += pod.gpu_milli_total
    while demand > target:
        demand -= workload.pop(int(rng.integers(len(workload)))).gpu_milli_total
    return workload


def level_means(arrived_pct: np.ndarray, values: np.ndarray) -> dict[int, float]:
    """Per arrived level 0..130: the mean of ``values`` (each rounded to 0.01) over the events
    whose arrived % rounds to the level, else over those within one level of it."""
    rounded = np.rint(arrived_pct).astype(np.int64)
    values = np.round(values, 2)
    out = {}
    for level in LEVELS:
        hit = rounded == level
        if not hit.any():
            hit = np.abs(rounded - level) <= 1
        if hit.any():
            out[int(level)] = round(float(values[hit].mean()), 2)
    return out


def run_once(
    nodes: Sequence[Resources],
    pods: Sequence[Resources],
    factory: PolicyFactory,
    seed: int,
    ratio: float,
    mix: ShapeMix,
) -> PackRun:
    rng = np.random.default_rng(seed)
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
    workload = tune(pods, cluster.gpu_capacity, ratio, rng)
    rank = rng.permutation(len(cluster))
    policy = factory(rank, mix)
    # FGD keeps this very index (same cluster, same oracle mix) current: read it, not a twin
    shared = isinstance(policy, FgdPolicy) and policy.mix is mix
    if isinstance(policy, FgdPolicy) and shared:
        fragments = policy.index_for(cluster)
    else:
        fragments = FragmentationIndex(cluster, mix)
    arrived = np.zeros(len(workload))
    allocated = np.zeros(len(workload))
    fragment = np.zeros(len(workload))
    demand = 0
    failed = 0
    started = time.perf_counter()
    for i, pod in enumerate(workload):
        demand += pod.gpu_milli_total
        policy.arrived(pod)
        candidates = np.flatnonzero(cluster.feasible(pod))
        if len(candidates):
            placement = policy.place(cluster, pod, candidates, rng)
            cluster.bind(placement.node, pod, placement.gpus)
            policy.bound(cluster, pod, placement)
            if not shared:
                fragments.update(placement.node)
        else:
            failed += 1
        arrived[i] = demand
        allocated[i] = cluster.gpu_allocated
        fragment[i] = fragments.fragments.sum()
    wall = time.perf_counter() - started
    scale = 100 / cluster.gpu_capacity
    arrived_pct = arrived * scale
    return PackRun(
        policy=policy.name,
        seed=seed,
        pods=len(workload),
        failed=failed,
        wall_s=wall,
        alloc_pct_at=level_means(arrived_pct, allocated * scale),
        frag_pct_at=level_means(arrived_pct, fragment * scale),
    )


GPU_POLICIES: dict[str, PolicyFactory] = {
    "random": lambda rank, mix: RandomPolicy(),
    "dot-product": lambda rank, mix: DotProductPolicy(rank),
    "gpu-clustering": lambda rank, mix: GpuClusteringPolicy(rank),
    "gpu-packing": lambda rank, mix: GpuPackingPolicy(rank),
    "best-fit": lambda rank, mix: BestFitPolicy(rank),
    "fgd": lambda rank, mix: FgdPolicy(rank, mix),
    "tidewise": lambda rank, mix: TidewisePolicy(rank),
}
"""The policies of the benchmark; ``mix`` is FGD's oracle (the trace's typical pods) and only
FGD reads it."""


def summarise(workload: str, runs: Sequence[PackRun]) -> GpuPackSummary:
    """Means over seeds at every arrived level that all seeds reached."""

    def mean_at(field: str) -> dict[str, float]:
        levels = sorted(set.intersection(*(set(getattr(r, field)) for r in runs)))
        return {
            str(level): round(float(np.mean([getattr(r, field)[level] for r in runs])), 2)
            for level in levels
        }

    return GpuPackSummary(
        policy=runs[0].policy,
        workload=workload,
        seeds=[r.seed for r in runs],
        alloc_pct_at=mean_at("alloc_pct_at"),
        alloc_pct_at_by_seed={
            str(r.seed): {str(k): v for k, v in r.alloc_pct_at.items()} for r in runs
        },
        frag_pct_at=mean_at("frag_pct_at"),
        failed_pods=float(np.mean([r.failed for r in runs])),
        pods_per_second=round(sum(r.pods for r in runs) / sum(r.wall_s for r in runs), 1),
    )


def run_benchmark(
    nodes: Sequence[Resources],
    pods: Sequence[Resources],
    workload: str,
    policies: Sequence[str],
    seeds: Sequence[int],
    ratio: float,
    progress: Callable[[str, int], None] | None = None,
    workers: int | None = None,
) -> list[GpuPackSummary]:
    """Every policy on every seed, on the same tuned and shuffled workloads.

    The runs are independent, so they go to ``workers`` processes (default: one per CPU;
    1 runs them here); results come back in policy and seed order, as sequential ones.
    """
    mix = ShapeMix.from_pods(pods)
    tasks = [(name, seed) for name in policies for seed in seeds]
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    runs: dict[str, list[PackRun]] = {name: [] for name in policies}
    if workers <= 1:
        for name, seed in tasks:
            runs[name].append(run_once(nodes, pods, GPU_POLICIES[name], seed, ratio, mix))
            if progress is not None:
                progress(name, seed)
        return [summarise(workload, runs[name]) for name in policies]
    # spawned: the parent may run a progress thread, which a fork would copy mid-flight
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context) as pool:
        futures = [
            pool.submit(_run_named, nodes, pods, name, seed, ratio, mix) for name, seed in tasks
        ]
        for (name, seed), future in zip(tasks, futures, strict=True):
            runs[name].append(future.result())
            if progress is not None:
                progress(name, seed)
    return [summarise(workload, runs[name]) for name in policies]


def _run_named(
    nodes: Sequence[Resources],
    pods: Sequence[Resources],
    name: str,
    seed: int,
    ratio: float,
    mix: ShapeMix,
) -> PackRun:
    """``run_once`` by policy name: a worker process cannot be sent the factory lambdas."""
    return run_once(nodes, pods, GPU_POLICIES[name], seed, ratio, mix)
