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

from tidewise.model import Bind, Node, Pod, Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import FragmentationIndex, ShapeMix, without_memory
from tidewise.placement.gpu_policies import GpuPolicy, TidewisePolicy

PassPolicyFactory = Callable[[np.ndarray, Counter[Resources]], GpuPolicy]
"""Builds a pass's policy from the node order and the shapes of all pods seen so far."""

CPU_PODS_ON_GPU_NODES = False
"""The twin's GPU nodes carry a NoSchedule taint CPU-only pods do not tolerate (fit rule)."""


def fragment_pct(nodes: Sequence[Node], seen: Counter[Resources]) -> float | None:
    """Idle GPU that the GPU pod shapes seen so far cannot use, in % of all GPUs of the nodes.

    CPU-only shapes are left out: in a cluster that keeps them off GPU nodes they never
    could use a GPU. ``None`` without GPU nodes or GPU pods to judge by.
    """
    gpu_nodes = [n for n in nodes if n.capacity.gpu_count]
    shapes = Counter({s: c for s, c in seen.items() if s.wants_gpu})
    if not gpu_nodes or not shapes:
        return None
    cluster = GpuCluster.of_nodes(gpu_nodes, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
    index = FragmentationIndex(cluster, ShapeMix.from_counts(shapes))
    return 100 * float(index.fragments.sum()) / index.cluster.gpu_capacity


def default_policy(rank: np.ndarray, seen: Counter[Resources]) -> GpuPolicy:
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
        self.seen: Counter[Resources] = Counter()  # shapes of the pods asked for, each once
        self._counted: set[str] = set()

    def schedule(
        self, pending: Sequence[Pod], nodes: Sequence[Node], rng: np.random.Generator
    ) -> list[Bind]:
        for pod in pending:
            if pod.name not in self._counted:
                self._counted.add(pod.name)
                self.seen[without_memory(pod.requests)] += 1
        if not nodes:
            return []
        cluster = GpuCluster.of_nodes(nodes, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
        policy = self.factory(np.arange(len(nodes)), self.seen)
        options = np.array([n.offering.option.value for n in nodes])
        binds = []
        for pod in pending:
            shape = pod.requests
            feasible = cluster.feasible(shape)
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
