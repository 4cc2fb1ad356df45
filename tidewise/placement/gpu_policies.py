"""GPU-sharing placement policies: each scores the feasible nodes and picks GPUs there.

Scores are whole numbers 0..100 as kube-scheduler's (the simulator truncates), and equal
scores go to the node ranked first in a per-run random order: the simulator's nodes carry
a random name prefix and ties go to the name that sorts first (research notes,
gpu-sharing.md section 1.6). Both details move the published figures by points.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import (
    MAX_SCORE,
    FragmentationIndex,
    ShapeMix,
    without_memory,
)

MAX_CPU_MILLI = 128_000  # the simulator's normalisers: the largest node spec
MAX_GPU_MILLI = 8 * MILLI_PER_GPU


@dataclass(frozen=True, slots=True)
class Placement:
    node: int
    gpus: tuple[int, ...]


class GpuPolicy(Protocol):
    name: str

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        """Choose among ``candidates`` (indices of feasible nodes, never empty)."""
        ...

    def bound(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        """Told after every bind, so cached state can follow."""
        ...

    def arrived(self, pod: Resources) -> None:
        """Told of every pod before it is placed (or fails), to learn the workload."""
        ...

    def released(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        """Told after a bound pod left (the defragmenter moved it), as ``bound``."""
        ...


def first_ranked(scores: np.ndarray, candidates: np.ndarray, rank: np.ndarray) -> int:
    """The candidate with the highest score; among equals the one ranked first.

    Scores are whole numbers, so one pass finds both: a score step outweighs any rank gap.
    """
    return int(candidates[np.argmax(scores * len(rank) - rank[candidates])])


class Stateless:
    """For policies that learn nothing from arrivals (and, unless they say so, binds)."""

    def bound(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        return None

    def released(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        return None

    def arrived(self, pod: Resources) -> None:
        return None


@dataclass
class RandomPolicy(Stateless):
    """A random feasible node; a share on a random fitting GPU, whole GPUs the first idle."""

    name: str = "random"

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        node = int(rng.choice(candidates))
        if pod.is_gpu_share:
            fits = np.flatnonzero(cluster.fitting_gpus(pod, slice(node, node + 1))[0])
            return Placement(node, (int(rng.choice(fits)),))
        return Placement(node, cluster.tightest_gpus(node, pod))


@dataclass
class BestFitPolicy(Stateless):
    """Least leftover after placing: 1 - sum_d w_d (free_d - req_d) / max_d over CPU and GPU.

    Weights 0.5 each, normalised by the largest node spec (128 cores, 8 GPUs), as the
    simulator's best-fit plug-in; GPUs chosen tightest-first.
    """

    rank: np.ndarray
    name: str = "best-fit"

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        cpu_left = (cluster.cpu_free[candidates] - pod.cpu_milli) / MAX_CPU_MILLI
        gpu_total = cluster.gpu_free[candidates].sum(axis=1)
        gpu_left = (gpu_total - pod.gpu_milli_total) / MAX_GPU_MILLI
        score = np.floor((1 - 0.5 * cpu_left - 0.5 * gpu_left) * MAX_SCORE)
        node = first_ranked(score, candidates, self.rank)
        return Placement(node, cluster.tightest_gpus(node, pod))


@dataclass
class FgdPolicy(Stateless):
    """Fragmentation gradient descent: the node (and GPU) where expected fragmentation of the
    target workload grows least; score = sigmoid(-delta / 1000) scaled to 0..100."""

    rank: np.ndarray
    mix: ShapeMix
    name: str = "fgd"
    _index: FragmentationIndex | None = field(default=None, init=False)

    def index_for(self, cluster: GpuCluster) -> FragmentationIndex:
        """The fragmentation of ``cluster`` under the target mix, kept current by ``bound``."""
        if self._index is None or self._index.cluster is not cluster:
            self._index = FragmentationIndex(cluster, self.mix)
        return self._index

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        score, gpu = self.index_for(cluster).scores_cached(pod, candidates)
        node = first_ranked(score, candidates, self.rank)
        if pod.is_gpu_share:
            return Placement(node, (int(gpu[node]),))
        return Placement(node, cluster.tightest_gpus(node, pod))

    def bound(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        self.index_for(cluster).update(placement.node)

    def released(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        self.index_for(cluster).update(placement.node)


@dataclass
class TidewisePolicy:
    """FGD without the oracle, with CPU-only pods kept off the CPU that GPUs will need.

    The shape mix is estimated online from the pods that have arrived so far (every pod,
    placed or not; the 95 % most common shapes), refreshed after 1, 2, 4, ... arrivals and
    then every ``refresh_every``. Nodes are ranked by FGD's whole-number score of the growth
    of expected fragmentation, exactly as FGD, because its coarse bins plus the per-run node
    order act as first-fit within a bin; measured, every finer or packing-based tie-break
    (float growth, best fit, fuller or smaller nodes first) lost 0.1 to 1 point.

    The one tie-break kept is for CPU-only pods, which FGD mostly sees as neutral (score 50
    on most nodes): among equals they go first to nodes whose CPU to spare covers them (CPU
    left minus what the node's free GPU share would draw at the CPU per GPU milli observed in
    GPU pods), then in node order, so they neither strand GPUs nor spread out. Sending them
    to the node with the most to spare instead lost 2.5 points on the CPU-heavy traces.
    """

    rank: np.ndarray
    name: str = "tidewise"
    refresh_every: int = 256
    _seen: Counter[Resources] = field(default_factory=Counter, init=False)
    _arrivals: int = field(default=0, init=False)
    _gpu_pod_cpu: int = field(default=0, init=False)  # sum of CPU asked by GPU pods
    _gpu_pod_milli: int = field(default=0, init=False)  # sum of GPU milli they asked
    _next_refresh: int = field(default=1, init=False)
    _index: FragmentationIndex | None = field(default=None, init=False)

    def arrived(self, pod: Resources, count: int = 1) -> None:
        self._seen[without_memory(pod)] += count
        self._arrivals += count
        if pod.wants_gpu:
            self._gpu_pod_cpu += count * pod.cpu_milli
            self._gpu_pod_milli += count * pod.gpu_milli_total

    def _frag(self, cluster: GpuCluster) -> FragmentationIndex:
        if (
            self._index is None
            or self._index.cluster is not cluster
            or self._arrivals >= self._next_refresh
        ):
            self._index = FragmentationIndex(cluster, ShapeMix.from_counts(self._seen))
            self._next_refresh = min(2 * self._arrivals, self._arrivals + self.refresh_every)
        return self._index

    def _cpu_to_spare(self, cluster: GpuCluster, pod: Resources, nodes: np.ndarray) -> np.ndarray:
        """CPU left after the pod minus what the node's free GPU share would draw."""
        per_milli = self._gpu_pod_cpu / max(self._gpu_pod_milli, 1)
        gpu_left = cluster.gpu_free[nodes].sum(axis=1)
        return cluster.cpu_free[nodes] - pod.cpu_milli - per_milli * gpu_left

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        score, gpu = self._frag(cluster).scores_cached(pod, candidates)
        if pod.wants_gpu:
            node = first_ranked(score, candidates, self.rank)
        else:
            top = candidates[score == score.max()]
            covered = (self._cpu_to_spare(cluster, pod, top) >= 0).astype(np.int64)
            node = first_ranked(covered, top, self.rank)
        if pod.is_gpu_share:
            return Placement(node, (int(gpu[node]),))
        return Placement(node, cluster.tightest_gpus(node, pod))

    def bound(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        if self._index is not None:
            self._index.update(placement.node)

    def released(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        self.bound(cluster, pod, placement)


@dataclass
class DotProductPolicy(Stateless):
    """Tetris-like alignment: score 1 - (free . request) / 2 with both vectors over (CPU, GPU)
    normalised by the largest spec; prefers nodes with less free resource. GPUs tightest-first."""

    rank: np.ndarray
    name: str = "dot-product"

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        cpu = cluster.cpu_free[candidates] * pod.cpu_milli / MAX_CPU_MILLI**2
        gpu = cluster.gpu_free[candidates].sum(axis=1) * pod.gpu_milli_total / MAX_GPU_MILLI**2
        score = np.floor(MAX_SCORE * (1 - (cpu + gpu) / 2))
        node = first_ranked(score, candidates, self.rank)
        return Placement(node, cluster.tightest_gpus(node, pod))


@dataclass
class GpuPackingPolicy(Stateless):
    """Three tiers: a share on a partly used GPU (the fuller the better), then idle GPUs on a
    node already in use, then idle nodes (smaller ones first). CPU-only pods: node order."""

    rank: np.ndarray
    name: str = "gpu-packing"

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        if not pod.wants_gpu:
            return Placement(int(candidates[np.argmin(self.rank[candidates])]), ())
        free = cluster.gpu_free[candidates]
        gpus = cluster.gpu_count[candidates]
        idle = (free == MILLI_PER_GPU).sum(axis=1)
        if pod.is_gpu_share:
            # the tightest GPU that fits: idle (tier 2) or partly used (tier 1, fuller is better)
            tightest = np.where(free >= pod.gpu_milli, free, MILLI_PER_GPU + 1).min(axis=1)
            used = np.maximum(100 - (tightest * 100 // MILLI_PER_GPU) // 10, 50)
            score = np.where(tightest == MILLI_PER_GPU, 49, used)
        else:
            score = np.full(len(candidates), max(50 - pod.gpu_devices, 33))
        score = np.where(idle == gpus, np.maximum(33 - gpus, gpus), score)
        node = first_ranked(score, candidates, self.rank)
        return Placement(node, cluster.tightest_gpus(node, pod))


def affinity_class(pod: Resources) -> str | None:
    """The GPU-clustering class: all shares together, whole GPUs by count; CPU-only: none."""
    if not pod.wants_gpu:
        return None
    return "share-gpu" if pod.is_gpu_share else f"{pod.gpu_devices}-gpu"


@dataclass
class GpuClusteringPolicy(Stateless):
    """Keep pods of one GPU class together: nodes holding only this class first, then nodes
    holding it among others, then GPU-idle nodes, then the rest; fuller nodes first within a
    band (fullness measured against 8 GPUs). CPU-only pods: node order."""

    rank: np.ndarray
    name: str = "gpu-clustering"
    _classes: dict[int, Counter[str]] = field(default_factory=dict, init=False)

    def place(
        self, cluster: GpuCluster, pod: Resources, candidates: np.ndarray, rng: np.random.Generator
    ) -> Placement:
        wanted = affinity_class(pod)
        if wanted is None:
            return Placement(int(candidates[np.argmin(self.rank[candidates])]), ())
        left = cluster.gpu_free[candidates].sum(axis=1)
        fill = 25 * (MAX_GPU_MILLI - left) // MAX_GPU_MILLI
        band = np.array([self._band(int(n), wanted) for n in candidates])
        node = first_ranked(fill + band, candidates, self.rank)
        return Placement(node, cluster.tightest_gpus(node, pod))

    def _band(self, node: int, wanted: str) -> int:
        held = self._classes.get(node)
        if not held:
            return 25
        if wanted in held:
            return 75 if len(held) == 1 else 50
        return 0

    def bound(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        kind = affinity_class(pod)
        if kind is not None:
            self._classes.setdefault(placement.node, Counter())[kind] += 1

    def released(self, cluster: GpuCluster, pod: Resources, placement: Placement) -> None:
        kind = affinity_class(pod)
        if kind is not None:
            self._classes[placement.node][kind] -= 1
            if not self._classes[placement.node][kind]:
                del self._classes[placement.node][kind]
