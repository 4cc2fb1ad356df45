"""GPU fragmentation, as defined by FGD (Weng et al., USENIX ATC'23, section 4).

The fragment of node n for a task shape m is the idle GPU share on n that m cannot use: all of
it if n cannot host m at all (or m wants no GPU), else the GPUs whose free share is smaller
than m's per-GPU share. Weighted by how common each shape is, it is the GPU the expected next
task could not use. FGD places each pod where this expected fragmentation grows least.

Everything here is per node x shape matrices, kept up to date row by row: a placement changes
one node, so only its row is recomputed, and the effect of a hypothetical placement is derived
from the cached counts instead of recomputing every GPU.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.cluster import GpuCluster


@dataclass(frozen=True)
class ShapeMix:
    """A distribution of task shapes: the 'target workload' M of the paper."""

    shapes: tuple[Resources, ...]
    weights: np.ndarray  # sums to 1

    @classmethod
    def from_pods(cls, pods: Iterable[Resources], coverage: float = 0.95) -> ShapeMix:
        """The most common shapes covering ``coverage`` of the pods, renormalised.

        This is the simulator's 'typical pods' (shapes grouped ignoring memory, CPU-only pods
        included, 95 % popularity threshold).
        """
        return cls.from_counts(Counter(without_memory(p) for p in pods), coverage)

    @classmethod
    def from_counts(cls, counts: Counter[Resources], coverage: float = 0.95) -> ShapeMix:
        """As :meth:`from_pods`, from shape counts (memory already dropped)."""
        if not counts:
            raise ValueError("a shape mix needs at least one pod")
        total = sum(counts.values())
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        kept: list[tuple[Resources, int]] = []
        covered = 0
        for shape, count in ordered:
            kept.append((shape, count))
            covered += count
            if covered >= coverage * total:
                break
        weights = np.array([c for _, c in kept], dtype=np.float64)
        return cls(tuple(s for s, _ in kept), weights / weights.sum())


def without_memory(pod: Resources) -> Resources:
    """The shape with its host memory dropped, as the paper groups shapes."""
    return replace(pod, memory_mib=0)


MAX_SCORE = 100


def fgd_score(delta: np.ndarray) -> np.ndarray:
    """FGD's node score: floor(100 * sigmoid(-delta / 1000)); 50 when nothing changes."""
    return np.floor(MAX_SCORE / (1 + np.exp(np.asarray(delta) / 1000)))


class FragmentationIndex:
    """Per node and shape: what FGD needs, cached and updated one node at a time."""

    def __init__(self, cluster: GpuCluster, mix: ShapeMix) -> None:
        self.cluster = cluster
        self.mix = mix
        shapes = mix.shapes
        self.cpu = np.array([s.cpu_milli for s in shapes], dtype=np.int64)
        self.share = np.array([s.gpu_milli_each for s in shapes], dtype=np.int64)
        self.need = np.array([s.gpu_devices for s in shapes], dtype=np.int64)  # fitting GPUs
        # gpu_ok[n, m]: shape m wants a GPU and accepts node n's GPU model
        model_ok = np.stack([cluster.model_ok(s) for s in shapes], axis=1)
        self.gpu_ok = model_ok & (self.need > 0)[None, :]
        # per free share of one GPU (0..1000) and shape: the GPU's partial fragment and
        # whether the shape's per-GPU share fits it; a node's row is the sum over its GPUs
        free = np.arange(MILLI_PER_GPU + 1)[:, None]
        self._partial_of = free * (free < self.share)
        self._fits_of = (free >= self.share).astype(np.int64)
        self._steps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        n = len(cluster)
        self.partial = np.zeros((n, len(shapes)), dtype=np.int64)
        self.count_fit = np.zeros((n, len(shapes)), dtype=np.int64)
        self.gpu_total = np.zeros(n, dtype=np.int64)  # free GPU share of the node
        self._refresh(slice(None))
        self.fragments = self._fragments_of(np.arange(n))  # F_n(M), kept current
        self.version = np.zeros(n, dtype=np.int64)  # bumped on every change of a node
        self._scores: dict[tuple[int, int, int, int], _ScoreCache] = {}

    def _refresh(self, rows: slice) -> None:
        free = self.cluster.gpu_free[rows]  # n x G
        self.partial[rows] = self._partial_of[free].sum(axis=-2)
        self.count_fit[rows] = self._fits_of[free].sum(axis=-2)
        self.gpu_total[rows] = free.sum(axis=-1)

    def _share_step(self, milli: int) -> tuple[np.ndarray, np.ndarray]:
        """Per free share of one GPU (0..1000) and shape: how the GPU's partial fragment and
        fit change when a share of ``milli`` lands on it. Kept per share size, so a trial
        placement is two table look-ups instead of recomputing both sides per GPU."""
        step = self._steps.get(milli)
        if step is None:
            after = np.arange(MILLI_PER_GPU + 1)[:, None] - milli  # below 0: never chosen
            step = (
                after * (after < self.share) - self._partial_of,
                (after >= self.share) - self._fits_of,
            )
            self._steps[milli] = step
        return step

    def update(self, node: int) -> None:
        """Call after a bind or release on ``node``."""
        row = slice(node, node + 1)  # views, not copies: this runs once per pod
        self._refresh(row)
        self.fragments[node] = self._fragments_of(row)[0]
        self.version[node] += 1

    def of_state(self, node: int, cpu_free: int, gpu_free: np.ndarray) -> float:
        """F_n(M) of ``node`` were its free CPU and per-GPU share these: what a descheduler
        asks of each pod it might evict (the node with that pod gone)."""
        free = np.asarray(gpu_free)
        partial = self._partial_of[free].sum(axis=0)
        count_fit = self._fits_of[free].sum(axis=0)
        total = np.asarray(free.sum())
        frag = self._fragments(np.asarray(cpu_free), total, partial, count_fit, self.gpu_ok[node])
        return float(frag)

    def scores_cached(self, pod: Resources, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FGD's score of placing ``pod`` on each of ``nodes`` (``fgd_score`` of the growth of
        F_n(M)), and per node of the cluster the GPU :meth:`after` picks for a share there
        (read it at the node chosen); recomputed only for the nodes changed since this shape
        last asked.

        A placement changes one node, so for a shape seen a few pods ago almost every answer
        is still valid; this is what makes FGD cheap per pod. The stale nodes of one call are
        computed together, in node order, as they always were: numpy's matrix-vector product
        rounds a row differently with its position in the batch, and a score at the edge of
        a whole number (an unchanged F scores 50) moves with the last bit.
        """
        # host memory and GPU model change nothing here; GPU memory changes which GPUs fit
        key = (pod.cpu_milli, pod.gpu_devices, pod.gpu_milli_each, pod.gpu_memory_mib)
        cache = self._scores.get(key)
        if cache is None:
            size = len(self.cluster)
            cache = _ScoreCache(np.zeros(size), np.zeros(size, np.int64), np.full(size, -1))
            self._scores[key] = cache
        stale = nodes[cache.stamp[nodes] != self.version[nodes]]
        if len(stale):
            frag, cache.gpu[stale] = self.after(pod, stale)
            cache.score[stale] = fgd_score(frag - self.fragments[stale])
            cache.stamp[stale] = self.version[stale]
        return cache.score[nodes], cache.gpu

    def _fragments_of(self, nodes: np.ndarray | slice) -> np.ndarray:
        return self._fragments(
            self.cluster.cpu_free[nodes],
            self.gpu_total[nodes],
            self.partial[nodes],
            self.count_fit[nodes],
            self.gpu_ok[nodes],
        )

    def _fragments(
        self,
        cpu_free: np.ndarray,
        total: np.ndarray,
        partial: np.ndarray,
        count_fit: np.ndarray,
        gpu_ok: np.ndarray,
    ) -> np.ndarray:
        """sum_m p_m F(m) for node states given by the arrays: the last axis of ``partial``,
        ``count_fit`` and ``gpu_ok`` is the shape, the others broadcast (node, GPU tried)."""
        hostable = (cpu_free[..., None] >= self.cpu) & gpu_ok & (count_fit >= self.need)
        fragment = np.where(hostable, partial, total[..., None])
        return fragment @ self.mix.weights

    def _share_trials(self, pod: Resources, nodes: np.ndarray) -> np.ndarray:
        """F_n(M) were the share ``pod`` placed on each GPU of each of ``nodes``: k x G.

        Each node's G x M block is its own matrix-vector product, so a node's row does not
        depend on which nodes are computed with it (a 2-D product's rows do: see
        :meth:`scores_cached`).
        """
        cpu = self.cluster.cpu_free[nodes] - pod.cpu_milli
        total = self.gpu_total[nodes] - pod.gpu_milli_total
        free = self.cluster.gpu_free[nodes]  # k x G
        partial_step, fit_step = self._share_step(pod.gpu_milli)
        # per (node, GPU, shape): partial and count_fit if the share lands on that GPU
        partial_g = self.partial[nodes][:, None, :] + partial_step[free]
        count_g = self.count_fit[nodes][:, None, :] + fit_step[free]
        gpu_ok = self.gpu_ok[nodes][:, None, :]
        return self._fragments(cpu[:, None], total[:, None], partial_g, count_g, gpu_ok)

    def after(self, pod: Resources, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F_n(M) after placing ``pod`` on each of ``nodes``, and the GPU chosen there.

        A share goes on the GPU with the best FGD score (``fgd_score`` of the change, whole
        numbers as the simulator compares them; lowest index on ties); whole GPUs on the
        lowest-numbered idle ones (idle GPUs are alike, the choice does not change F).
        Returns (fragmentation, gpu index or -1) per node.
        """
        if not pod.is_gpu_share:
            cpu = self.cluster.cpu_free[nodes] - pod.cpu_milli
            total = self.gpu_total[nodes] - pod.gpu_milli_total
            # idle GPUs count towards every shape's fit and never towards a partial fragment
            count_fit = self.count_fit[nodes] - pod.gpu_devices
            frag = self._fragments(cpu, total, self.partial[nodes], count_fit, self.gpu_ok[nodes])
            return frag, np.full(len(nodes), -1, dtype=np.int64)
        c = self.cluster
        if len(nodes) >= DISTINCT_FROM:
            # nodes alike in free CPU, GPU model and free shares have the same trials; when a
            # shape first asks, a thousand nodes are often a few dozen states
            first, alike = distinct_rows(
                np.column_stack((c.cpu_free[nodes], c.model_id[nodes], c.gpu_free[nodes]))
            )
            frag = self._share_trials(pod, nodes[first])[alike]
        else:
            frag = self._share_trials(pod, nodes)
        fits = c.fitting_gpus(pod, nodes)
        score = np.where(fits, fgd_score(frag - self.fragments[nodes, None]), -1)
        best = np.argmax(score, axis=1)
        return frag[np.arange(len(nodes)), best], best


DISTINCT_FROM = 32
"""From this many nodes a share's trials are computed once per distinct node state (below,
finding the distinct states costs more than it saves)."""


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first index of each distinct row, and per row which of those it equals."""
    packed = np.ascontiguousarray(rows)
    whole = packed.view(np.dtype((np.void, packed.itemsize * packed.shape[1]))).ravel()
    _, first, alike = np.unique(whole, return_index=True, return_inverse=True)
    return first, alike.ravel()


@dataclass
class _ScoreCache:
    score: np.ndarray
    gpu: np.ndarray  # the share's GPU (after), -1 for other pods
    stamp: np.ndarray  # node version the entry was computed at; -1 never
