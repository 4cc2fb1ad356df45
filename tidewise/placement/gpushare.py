"""GPU-share cluster state as arrays: per node free CPU and memory, per GPU free milli-share.

A pod asks for CPU, memory and either ``num_gpu`` whole GPUs (``gpu_milli`` = 1000) or a share
``gpu_milli`` < 1000 of one GPU, optionally only on some GPU models. Whole-cluster filtering is
one vector pass; binding and releasing touch one row, so a pod costs O(nodes) numpy work, not
O(nodes) Python steps.

Missing GPUs (a 2-GPU node in an 8-wide table) hold 0 free milli, so they never fit and never
count as free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tidewise.model import MILLI_PER_GPU


@dataclass(frozen=True, slots=True)
class PodShape:
    """What placement needs to know of a pod (the openb trace's columns)."""

    cpu_milli: int
    memory_mib: int = 0
    num_gpu: int = 0
    gpu_milli: int = 0  # per GPU; MILLI_PER_GPU for whole GPUs
    gpu_models: frozenset[str] | None = None  # None: any model
    gpu_memory_mib: int = 0  # per GPU (aliyun.com/gpu-mem, nvidia.com/gpumem); 0: any

    def __post_init__(self) -> None:
        if self.num_gpu > 1 and self.gpu_milli != MILLI_PER_GPU:
            raise ValueError("a multi-GPU pod takes whole GPUs (gpu_milli 1000)")
        if self.num_gpu and not 0 <= self.gpu_milli <= MILLI_PER_GPU:
            raise ValueError("gpu_milli must be in 0..1000 for a GPU pod")
        if self.num_gpu == 1 and not (self.gpu_milli or self.gpu_memory_mib):
            raise ValueError("a GPU share needs gpu_milli or gpu_memory_mib")

    @property
    def is_share(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI_PER_GPU

    @property
    def gpu_request(self) -> int:
        """Total milli-GPU asked for (what 'arrived GPU demand' sums)."""
        return self.num_gpu * self.gpu_milli


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node; ``gpu_memory_mib`` is per GPU, 0 when unknown (then never the limit)."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str
    gpu_memory_mib: int = 0


UNTRACKED_MIB = 1 << 40  # GPU memory of a GPU whose size is unknown: never the constraint


class GpuCluster:
    """Mutable free-resource arrays of a node pool; policies read them, ``bind`` writes."""

    def __init__(self, nodes: Sequence[NodeSpec]) -> None:
        self.specs = list(nodes)
        self.models = sorted({n.model for n in nodes if n.gpus})
        index = {m: i for i, m in enumerate(self.models)}
        width = max((n.gpus for n in nodes), default=0)
        self.model_id = np.array([index.get(n.model, -1) for n in nodes], dtype=np.int64)
        self.gpu_count = np.array([n.gpus for n in nodes], dtype=np.int64)
        self.cpu_cap = np.array([n.cpu_milli for n in nodes], dtype=np.int64)
        self.memory_cap = np.array([n.memory_mib for n in nodes], dtype=np.int64)
        self.cpu_free = self.cpu_cap.copy()
        self.memory_free = self.memory_cap.copy()
        self.gpu_free = np.zeros((len(nodes), width), dtype=np.int64)
        self.gpu_memory_free = np.zeros((len(nodes), width), dtype=np.int64)
        for i, node in enumerate(nodes):
            self.gpu_free[i, : node.gpus] = MILLI_PER_GPU
            self.gpu_memory_free[i, : node.gpus] = node.gpu_memory_mib or UNTRACKED_MIB
        self.gpu_memory_cap = self.gpu_memory_free.copy()
        self.gpu_capacity = int(self.gpu_count.sum()) * MILLI_PER_GPU
        self.gpu_allocated = 0

    def __len__(self) -> int:
        return len(self.specs)

    def model_ok(self, pod: PodShape) -> np.ndarray:
        """Nodes whose GPU model the pod accepts (all nodes for a CPU-only pod)."""
        if not pod.num_gpu or pod.gpu_models is None:
            return np.ones(len(self), dtype=bool)
        allowed = [i for i, m in enumerate(self.models) if m in pod.gpu_models]
        return np.isin(self.model_id, allowed)

    def feasible(self, pod: PodShape) -> np.ndarray:
        """Nodes that can host the pod now."""
        ok = (self.cpu_free >= pod.cpu_milli) & (self.memory_free >= pod.memory_mib)
        if not pod.num_gpu:
            return ok
        if pod.gpu_models is not None:
            ok &= self.model_ok(pod)
        fits = self.fitting_gpus(pod)
        return ok & (fits.any(axis=1) if pod.num_gpu == 1 else fits.sum(axis=1) >= pod.num_gpu)

    def fitting_gpus(self, pod: PodShape, nodes: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Per node and GPU: whether one of the pod's per-GPU slices fits there.

        A share needs its milli-share and GPU memory free (a memory-sized share asks for no
        milli); a whole GPU must be idle in both (and large enough), so shares never mix with
        whole-GPU pods on one device.
        """
        free = self.gpu_free[nodes]
        memory = self.gpu_memory_free[nodes]
        if pod.is_share:
            return (free >= pod.gpu_milli) & (memory >= pod.gpu_memory_mib)
        idle = (free == MILLI_PER_GPU) & (memory == self.gpu_memory_cap[nodes])
        return idle & (memory >= pod.gpu_memory_mib)

    def tightest_gpus(self, node: int, pod: PodShape) -> tuple[int, ...]:
        """The default GPU choice: for a share the fitting GPU with the least free share
        (lowest index on ties); for whole GPUs the lowest-numbered idle ones."""
        if not pod.num_gpu:
            return ()
        fits = np.flatnonzero(self.fitting_gpus(pod, slice(node, node + 1))[0])
        if pod.is_share:
            free = self.gpu_free[node]
            return (int(fits[np.argmin(free[fits])]),)
        return tuple(int(g) for g in fits[: pod.num_gpu])

    def bind(self, node: int, pod: PodShape, gpus: Sequence[int]) -> None:
        self._apply(node, pod, gpus, -1)

    def release(self, node: int, pod: PodShape, gpus: Sequence[int]) -> None:
        self._apply(node, pod, gpus, +1)

    def _apply(self, node: int, pod: PodShape, gpus: Sequence[int], sign: int) -> None:
        """Check the whole change first (plain ints: this runs once per pod), then write it."""
        if len(set(gpus)) != pod.num_gpu or any(not 0 <= g < self.gpu_count[node] for g in gpus):
            raise ValueError(f"pod asks for {pod.num_gpu} GPUs, got indices {list(gpus)}")
        cpu = self.cpu_free.item(node) + sign * pod.cpu_milli
        memory = self.memory_free.item(node) + sign * pod.memory_mib
        milli = [self.gpu_free.item(node, g) + sign * pod.gpu_milli for g in gpus]
        gpu_memory = [self.gpu_memory_free.item(node, g) + sign * pod.gpu_memory_mib for g in gpus]
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
        self.gpu_allocated -= sign * pod.gpu_request
