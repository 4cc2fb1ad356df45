"""Whether a pod fits a node, and on which GPUs: the one fit rule every layer shares.

GPU nodes carry an implicit ``NoSchedule`` taint for pods that want no GPU (as GPU node pools
usually do), so CPU-only pods never take room on expensive GPU nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tidewise.model import MILLI_PER_GPU, Node, Resources


def tolerates(node_capacity: Resources, requests: Resources) -> bool:
    """GPU-ness and GPU model of pod and node agree."""
    if not requests.wants_gpu:
        return node_capacity.gpu_count == 0
    if node_capacity.gpu_count == 0:
        return False
    if requests.gpu_model is None:
        return True
    return node_capacity.gpu_model in requests.gpu_model.split("|")


def choose_gpus(
    requests: Resources,
    gpu_free_milli: Sequence[int],
    gpu_free_memory_mib: Sequence[int],
    gpu_memory_mib: int,
) -> tuple[int, ...] | None:
    """GPU indices for the pod, or ``None`` if its GPU request cannot be met.

    A share goes to the fullest GPU that still fits it (best fit keeps whole GPUs free for
    whole-GPU pods); whole GPUs are the lowest-numbered idle ones, idle in share and in
    memory (``gpu_memory_mib`` per GPU), the same rule as ``GpuCluster.fitting_gpus``.
    """
    if not requests.wants_gpu:
        return ()
    if requests.gpu_count:
        idle = [
            i
            for i, milli in enumerate(gpu_free_milli)
            if milli == MILLI_PER_GPU
            and gpu_free_memory_mib[i] == gpu_memory_mib
            and gpu_memory_mib >= requests.gpu_memory_mib
        ]
        return tuple(idle[: requests.gpu_count]) if len(idle) >= requests.gpu_count else None
    best: int | None = None
    for i, milli in enumerate(gpu_free_milli):
        if milli < requests.gpu_milli or gpu_free_memory_mib[i] < requests.gpu_memory_mib:
            continue
        if best is None or milli < gpu_free_milli[best]:
            best = i
    return None if best is None else (best,)


def fit_on(node: Node, requests: Resources) -> tuple[int, ...] | None:
    """GPU indices if the pod fits the node's free resources now, else ``None``."""
    if not tolerates(node.capacity, requests):
        return None
    if node.free_cpu_milli < requests.cpu_milli or node.free_memory_mib < requests.memory_mib:
        return None
    return choose_gpus(
        requests, node.gpu_free_milli, node.gpu_free_memory_mib, node.capacity.gpu_memory_mib
    )


def pods_per_node(capacity: Resources, requests: Resources) -> int:
    """How many pods of one shape an empty node of this capacity holds."""
    if not tolerates(capacity, requests):
        return 0
    counts = []
    if requests.cpu_milli:
        counts.append(capacity.cpu_milli // requests.cpu_milli)
    if requests.memory_mib:
        counts.append(capacity.memory_mib // requests.memory_mib)
    if requests.gpu_count:
        if capacity.gpu_memory_mib < requests.gpu_memory_mib:
            return 0
        counts.append(capacity.gpu_count // requests.gpu_count)
    elif requests.wants_gpu:
        per_gpu = []
        if requests.gpu_milli:
            per_gpu.append(MILLI_PER_GPU // requests.gpu_milli)
        if requests.gpu_memory_mib:
            per_gpu.append(capacity.gpu_memory_mib // requests.gpu_memory_mib)
        counts.append(min(per_gpu) * capacity.gpu_count)
    return min(counts) if counts else 0


def with_pod(node: Node, requests: Resources, gpus: tuple[int, ...], sign: int = 1) -> Node:
    """The node after binding (``sign=1``) or releasing (``sign=-1``) a pod on ``gpus``."""
    milli = list(node.gpu_free_milli)
    memory = list(node.gpu_free_memory_mib)
    share = MILLI_PER_GPU if requests.gpu_count else requests.gpu_milli
    for i in gpus:
        milli[i] -= sign * share
        memory[i] -= sign * requests.gpu_memory_mib
    return replace(
        node,
        allocated_cpu_milli=node.allocated_cpu_milli + sign * requests.cpu_milli,
        allocated_memory_mib=node.allocated_memory_mib + sign * requests.memory_mib,
        gpu_free_milli=tuple(milli),
        gpu_free_memory_mib=tuple(memory),
        pod_count=node.pod_count + sign,
    )
