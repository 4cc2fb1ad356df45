"""The free resources of all schedulable nodes as arrays, so a fit check is one numpy pass.

Filtering node by node in Python makes placing N pods on M nodes cost N*M interpreter steps;
here each pod costs a handful of vector operations over M, and a bind updates one row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tidewise.model import MILLI_PER_GPU, Node, Resources
from tidewise.placement.fit import choose_gpus


class NodeTable:
    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = list(nodes)
        self.position = {n.name: i for i, n in enumerate(self.nodes)}
        width = max((len(n.gpu_free_milli) for n in self.nodes), default=0)
        count = len(self.nodes)
        self.cap_cpu = np.array([n.capacity.cpu_milli for n in self.nodes], dtype=np.int64)
        self.free_cpu = np.zeros(count, dtype=np.int64)
        self.free_memory = np.zeros(count, dtype=np.int64)
        self.gpu_count = np.array([n.capacity.gpu_count for n in self.nodes], dtype=np.int64)
        self.gpu_model = np.array([n.capacity.gpu_model or "" for n in self.nodes], dtype=object)
        self.gpu_milli = np.full((count, width), -1, dtype=np.int64)  # -1: no such GPU
        self.gpu_memory = np.full((count, width), -1, dtype=np.int64)
        for i, node in enumerate(self.nodes):
            self._load(i, node)

    def update(self, node: Node) -> None:
        i = self.position[node.name]
        self.nodes[i] = node
        self._load(i, node)

    def _load(self, i: int, node: Node) -> None:
        self.free_cpu[i] = node.free_cpu_milli
        self.free_memory[i] = node.free_memory_mib
        gpus = len(node.gpu_free_milli)
        self.gpu_milli[i, :gpus] = node.gpu_free_milli
        self.gpu_memory[i, :gpus] = node.gpu_free_memory_mib

    def feasible(self, requests: Resources) -> np.ndarray:
        """Which nodes can take the pod now: same rules as :func:`fit.fit_on`."""
        ok = (self.free_cpu >= requests.cpu_milli) & (self.free_memory >= requests.memory_mib)
        if not requests.wants_gpu:
            return ok & (self.gpu_count == 0)
        ok &= self.gpu_count > 0
        if requests.gpu_model is not None:
            ok &= np.isin(self.gpu_model, requests.gpu_model.split("|"))
        memory_ok = self.gpu_memory >= requests.gpu_memory_mib
        if requests.gpu_count:
            idle = (self.gpu_milli == MILLI_PER_GPU) & memory_ok
            return ok & (idle.sum(axis=1) >= requests.gpu_count)
        return ok & ((self.gpu_milli >= requests.gpu_milli) & memory_ok).any(axis=1)


def best_fit(requests: Resources, table: NodeTable) -> tuple[Node, tuple[int, ...]] | None:
    """The node the pod leaves with the least free CPU share (first on ties), and its GPUs."""
    if not table.nodes:
        return None
    ok = table.feasible(requests)
    if not ok.any():
        return None
    left = (table.free_cpu - requests.cpu_milli) / table.cap_cpu
    i = int(np.argmin(np.where(ok, left, np.inf)))
    node = table.nodes[i]
    gpus = choose_gpus(requests, node.gpu_free_milli, node.gpu_free_memory_mib)
    assert gpus is not None, "the table and the fit rule disagree"
    return node, gpus
