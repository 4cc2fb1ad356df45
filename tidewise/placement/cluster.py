"""A node pool's free resources as arrays: per node free CPU and memory, per GPU free
milli-share and memory.

Why arrays: whole-cluster filtering is one vector pass of the fit rule
(:mod:`tidewise.placement.fit`), and binding or releasing touches one row, so a pod costs
O(nodes) numpy work, not O(nodes) Python steps; FGD's speed rests on it.

Nodes are described by their capacity and queried with pod requests, both
:class:`~tidewise.model.Resources`. Missing GPUs (a 2-GPU node in an 8-wide table) hold 0 free
milli and 0 memory, so they never fit and never count as free.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from tidewise.model import MILLI_PER_GPU, Node, Resources
from tidewise.placement.fit import admits, gpu_fits, gpu_taken, node_fits, pick_gpus


class GpuCluster:
    """Mutable free-resource arrays of a node pool; policies read them, ``bind`` writes.

    ``cpu_pods_on_gpu_nodes`` is the fit rule's choice for CPU-only pods
    (:mod:`tidewise.placement.fit`). Once queried, change the GPU arrays only by ``bind`` and
    ``release``: ``feasible`` keeps its per-GPU counts and refreshes only the nodes these
    touched (a scratch ``copy`` starts afresh and may be written directly).
    """

    def __init__(self, nodes: Sequence[Resources], *, cpu_pods_on_gpu_nodes: bool) -> None:
        self.capacities = list(nodes)
        self.cpu_pods_on_gpu_nodes = cpu_pods_on_gpu_nodes
        self.models = sorted({n.gpu_model or "" for n in nodes if n.gpu_count})
        index = {m: i for i, m in enumerate(self.models)}
        width = max((n.gpu_count for n in nodes), default=0)
        self.model_id = np.array([index.get(n.gpu_model or "", -1) for n in nodes], dtype=np.int64)
        self.gpu_count = np.array([n.gpu_count for n in nodes], dtype=np.int64)
        self.cpu_cap = np.array([n.cpu_milli for n in nodes], dtype=np.int64)
        self.memory_cap = np.array([n.memory_mib for n in nodes], dtype=np.int64)
        self.cpu_free = self.cpu_cap.copy()
        self.memory_free = self.memory_cap.copy()
        self.gpu_free = np.zeros((len(nodes), width), dtype=np.int64)
        self.gpu_memory_free = np.zeros((len(nodes), width), dtype=np.int64)
        for i, node in enumerate(nodes):
            self.gpu_free[i, : node.gpu_count] = MILLI_PER_GPU
            self.gpu_memory_free[i, : node.gpu_count] = node.device_memory_mib
        self.gpu_memory_cap = self.gpu_memory_free.copy()
        self.gpu_capacity = int(self.gpu_count.sum()) * MILLI_PER_GPU
        self.gpu_allocated = 0
        self._admitted: dict[tuple[bool, frozenset[str] | None], np.ndarray | bool] = {}
        self._ones = np.ones(width, dtype=np.uint8)
        self.version = np.zeros(len(nodes), dtype=np.int64)  # bumped by every bind, release
        self._counts: dict[tuple[bool, int, int], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def of_nodes(cls, nodes: Sequence[Node], *, cpu_pods_on_gpu_nodes: bool) -> GpuCluster:
        """The cluster holding these nodes' current free resources."""
        cluster = cls([n.capacity for n in nodes], cpu_pods_on_gpu_nodes=cpu_pods_on_gpu_nodes)
        for i, node in enumerate(nodes):
            gpus = len(node.gpu_free_milli)
            cluster.cpu_free[i] = node.free_cpu_milli
            cluster.memory_free[i] = node.free_memory_mib
            cluster.gpu_free[i, :gpus] = node.gpu_free_milli
            cluster.gpu_memory_free[i, :gpus] = node.gpu_free_memory_mib
        cluster.gpu_allocated = cluster.gpu_capacity - int(cluster.gpu_free.sum())
        return cluster

    def copy(self) -> GpuCluster:
        """A scratch cluster with the same free resources, to try a change on (the
        defragmenter's moves) without touching this one; capacities are shared, not copied."""
        twin = copy.copy(self)
        for name in ("cpu_free", "memory_free", "gpu_free", "gpu_memory_free", "version"):
            setattr(twin, name, getattr(self, name).copy())
        twin._counts = {}
        return twin

    def __len__(self) -> int:
        return len(self.capacities)

    def model_ok(self, pod: Resources) -> np.ndarray:
        """Nodes whose GPU model the pod accepts (all nodes for a CPU-only pod)."""
        models = pod.gpu_models
        if not pod.wants_gpu or models is None:
            return np.ones(len(self), dtype=bool)
        allowed = [i for i, m in enumerate(self.models) if m in models]
        return np.isin(self.model_id, allowed)

    def admitted(self, pod: Resources) -> np.ndarray | bool:
        """Nodes whose kind suits the pod, whatever runs there (``True``: all of them); kept
        per kind of pod, as the nodes never change kind."""
        key = (pod.wants_gpu, pod.gpu_models)
        if key not in self._admitted:
            model_ok = True if pod.gpu_models is None else self.model_ok(pod)
            self._admitted[key] = admits(
                pod, self.gpu_count, model_ok, cpu_pods_on_gpu_nodes=self.cpu_pods_on_gpu_nodes
            )
        return self._admitted[key]

    def feasible(self, pod: Resources) -> np.ndarray:
        """Nodes that can host the pod now."""
        gpus_ok = self._counted(pod) >= pod.gpu_devices if pod.wants_gpu else True
        ok = node_fits(pod, self.admitted(pod), self.cpu_free, self.memory_free, gpus_ok)
        return np.asarray(ok, dtype=bool)

    def fitting_gpus(self, pod: Resources, nodes: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Per node and GPU: whether one of the pod's GPUs fits there (fit.gpu_fits)."""
        fits = gpu_fits(
            pod, self.gpu_free[nodes], self.gpu_memory_free[nodes], self.gpu_memory_cap[nodes]
        )
        return np.asarray(fits, dtype=bool)

    def fitting_count(self, pod: Resources, nodes: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Per node: how many of its GPUs one of the pod's GPUs fits (a matrix product: numpy's
        reductions along rows of 8 take three times as long)."""
        return self.fitting_gpus(pod, nodes).view(np.uint8) @ self._ones

    def _counted(self, pod: Resources) -> np.ndarray:
        """``fitting_count`` of every node, kept per GPU request (what ``gpu_fits`` reads)
        and recomputed only for the nodes bound or released since: a pod changes one node,
        so most of the count over every GPU of the cluster is the one the last pod saw."""
        key = (pod.gpu_count > 0, pod.gpu_milli, pod.gpu_memory_mib)
        kept = self._counts.get(key)
        if kept is None:
            kept = self._counts[key] = (self.fitting_count(pod), self.version.copy())
            return kept[0]
        counts, stamp = kept
        stale = np.flatnonzero(stamp != self.version)
        if len(stale):
            counts[stale] = self.fitting_count(pod, stale)
            stamp[stale] = self.version[stale]
        return counts

    def tightest_gpus(self, node: int, pod: Resources) -> tuple[int, ...]:
        """The default GPU choice on ``node`` (fit.pick_gpus); ``()`` if too few GPUs fit."""
        if not pod.wants_gpu:
            return ()
        fits = self.fitting_gpus(pod, slice(node, node + 1))[0].tolist()
        return pick_gpus(pod, fits, self.gpu_free[node].tolist()) or ()

    def bind(self, node: int, pod: Resources, gpus: Sequence[int]) -> None:
        self._apply(node, pod, gpus, -1)

    def release(self, node: int, pod: Resources, gpus: Sequence[int]) -> None:
        self._apply(node, pod, gpus, +1)

    def _apply(self, node: int, pod: Resources, gpus: Sequence[int], sign: int) -> None:
        """Check the whole change first (plain ints: this runs once per pod), then write it."""
        if len(set(gpus)) != pod.gpu_devices or any(
            not 0 <= g < self.gpu_count[node] for g in gpus
        ):
            raise ValueError(f"pod asks for {pod.gpu_devices} GPUs, got indices {list(gpus)}")
        cpu = self.cpu_free.item(node) + sign * pod.cpu_milli
        memory = self.memory_free.item(node) + sign * pod.memory_mib
        milli, gpu_memory = [], []
        for g in gpus:
            cap = self.gpu_memory_cap.item(node, g)
            share, taken = gpu_taken(pod, cap)
            milli.append(self.gpu_free.item(node, g) + sign * share)
            gpu_memory.append(self.gpu_memory_free.item(node, g) + sign * taken)
        if (
            not 0 <= cpu <= self.cpu_cap.item(node)
            or not 0 <= memory <= self.memory_cap.item(node)
            or any(not 0 <= m <= MILLI_PER_GPU for m in milli)
            or any(
                not 0 <= m <= self.gpu_memory_cap.item(node, g)
                for m, g in zip(gpu_memory, gpus, strict=True)
            )
        ):
            raise ValueError(f"{'bind' if sign < 0 else 'release'} would over-commit node {node}")
        self.cpu_free[node] = cpu
        self.memory_free[node] = memory
        for g, m, gm in zip(gpus, milli, gpu_memory, strict=True):
            self.gpu_free[node, g] = m
            self.gpu_memory_free[node, g] = gm
        self.gpu_allocated -= sign * pod.gpu_milli_total
        self.version[node] += 1
