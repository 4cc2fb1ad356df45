"""The GPU-share engine over the cluster's own records: what the twin (and the scheduler
extender) schedule with.

Each pass loads the schedulable nodes' free resources into a :class:`GpuCluster`, places the
pending pods in order with a GPU policy, and returns the binds. The shapes seen so far are
remembered across passes, so a policy that learns the workload (ours) keeps learning while
nodes come and go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from tidewise.model import MILLI_PER_GPU, Bind, Node, Pod, Resources
from tidewise.placement.frag import FragmentationIndex, ShapeMix, without_memory
from tidewise.placement.gpu_policies import GpuPolicy, TidewisePolicy
from tidewise.placement.gpushare import GpuCluster, NodeSpec, PodShape

PassPolicyFactory = Callable[[np.ndarray, Counter[PodShape]], GpuPolicy]
"""Builds a pass's policy from the node order and the shapes of all pods seen so far."""


def pod_shape(requests: Resources) -> PodShape:
    """A pod's requests in the engine's terms (whole GPUs are 1000 milli each)."""
    if requests.gpu_count:
        return PodShape(
            requests.cpu_milli,
            requests.memory_mib,
            requests.gpu_count,
            MILLI_PER_GPU,
            _models(requests.gpu_model),
            requests.gpu_memory_mib,
        )
    return PodShape(
        requests.cpu_milli,
        requests.memory_mib,
        1 if requests.wants_gpu else 0,
        requests.gpu_milli,
        _models(requests.gpu_model),
        requests.gpu_memory_mib,
    )


def _models(text: str | None) -> frozenset[str] | None:
    return frozenset(text.split("|")) if text else None


def load_cluster(nodes: Sequence[Node]) -> GpuCluster:
    """A :class:`GpuCluster` holding the nodes' current free resources."""
    cluster = GpuCluster(
        [
            NodeSpec(
                n.name,
                n.capacity.cpu_milli,
                n.capacity.memory_mib,
                n.capacity.gpu_count,
                n.capacity.gpu_model or "",
                n.capacity.gpu_memory_mib,
            )
            for n in nodes
        ]
    )
    for i, node in enumerate(nodes):
        gpus = len(node.gpu_free_milli)
        cluster.cpu_free[i] = node.free_cpu_milli
        cluster.memory_free[i] = node.free_memory_mib
        cluster.gpu_free[i, :gpus] = node.gpu_free_milli
        if node.capacity.gpu_memory_mib:
            cluster.gpu_memory_free[i, :gpus] = node.gpu_free_memory_mib
    cluster.gpu_allocated = int(cluster.gpu_count.sum()) * MILLI_PER_GPU - int(
        cluster.gpu_free.sum()
    )
    return cluster


def fragment_pct(nodes: Sequence[Node], seen: Counter[PodShape]) -> float | None:
    """Idle GPU that the GPU pod shapes seen so far cannot use, in % of all GPUs of the nodes.

    CPU-only shapes are left out: in a cluster that keeps them off GPU nodes they never
    could use a GPU. ``None`` without GPU nodes or GPU pods to judge by.
    """
    gpu_nodes = [n for n in nodes if n.capacity.gpu_count]
    shapes = Counter({s: c for s, c in seen.items() if s.num_gpu})
    if not gpu_nodes or not shapes:
        return None
    index = FragmentationIndex(load_cluster(gpu_nodes), ShapeMix.from_counts(shapes))
    return 100 * float(index.fragments.sum()) / index.cluster.gpu_capacity


def default_policy(rank: np.ndarray, seen: Counter[PodShape]) -> GpuPolicy:
    """The engine's default, ours: FGD on the shapes seen so far (docs/gpu-pack.md)."""
    policy = TidewisePolicy(rank)
    for shape, count in seen.items():
        policy.arrived(shape, count)
    return policy


class GpuShareScheduler:
    """Binds pending pods with a GPU policy; CPU-only pods stay off GPU nodes, and pods
    pinned to purchase options (an on-demand base) stay on those.

    Ties go to the node listed first (the oldest), so repeated runs bind identically.
    """

    def __init__(self, factory: PassPolicyFactory) -> None:
        self.factory = factory
        self.seen: Counter[PodShape] = Counter()  # shapes of the pods asked for, each once
        self._counted: set[str] = set()

    def schedule(
        self, pending: Sequence[Pod], nodes: Sequence[Node], rng: np.random.Generator
    ) -> list[Bind]:
        shapes = [pod_shape(p.requests) for p in pending]
        for pod, shape in zip(pending, shapes, strict=True):
            if pod.name not in self._counted:
                self._counted.add(pod.name)
                self.seen[without_memory(shape)] += 1
        if not nodes:
            return []
        cluster = load_cluster(nodes)
        policy = self.factory(np.arange(len(nodes)), self.seen)
        gpu_node = cluster.gpu_count > 0
        options = np.array([n.offering.option.value for n in nodes])
        binds = []
        for pod, shape in zip(pending, shapes, strict=True):
            feasible = cluster.feasible(shape)
            if not shape.num_gpu:
                feasible &= ~gpu_node
            if pod.capacity_types is not None:
                feasible &= np.isin(options, [o.value for o in pod.capacity_types])
            candidates = np.flatnonzero(feasible)
            if not len(candidates):
                continue
            placement = policy.place(cluster, shape, candidates, rng)
            cluster.bind(placement.node, shape, placement.gpus)
            policy.bound(cluster, shape, placement)
            binds.append(Bind(pod.name, nodes[placement.node].name, placement.gpus))
        return binds
