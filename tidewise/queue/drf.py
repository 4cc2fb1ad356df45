"""Dominant resource fairness between queues (Ghodsi et al., "Dominant Resource Fairness:
Fair Allocation of Multiple Resource Types", NSDI'11).

A queue's dominant share is the largest, over CPU, memory and GPU, of what its admitted jobs
hold as a fraction of the cluster's total, divided by the queue's weight. Admitting next
from the queue with the smallest dominant share is the paper's progressive filling: on its
example (9 CPUs, 18 GB; tasks of <1 CPU, 4 GB> and <3 CPUs, 1 GB>) it gives 3 and 2 tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tidewise.model import Job, JobSpec, Node
from tidewise.queue.config import QueueConfig


def demand(spec: JobSpec) -> np.ndarray:
    """CPU milli, memory MiB and milli-GPU held by the whole job."""
    worker = spec.worker
    return spec.workers * np.array(
        [worker.cpu_milli, worker.memory_mib, spec.gpu_milli_per_worker], dtype=np.float64
    )


class DominantShares:
    """Dominant share per queue, kept current as jobs are admitted and evicted in a pass."""

    def __init__(
        self, queues: Sequence[QueueConfig], nodes: Sequence[Node], admitted: Iterable[Job]
    ) -> None:
        self.weight = {q.name: q.weight for q in queues}
        total = np.zeros(3)
        for node in nodes:
            cap = node.capacity
            total += [cap.cpu_milli, cap.memory_mib, cap.gpu_count * 1000]
        self.capacity = np.where(total > 0, total, np.inf)  # a resource nobody has: share 0
        self.usage = {q.name: np.zeros(3) for q in queues}
        for job in admitted:
            self.add(job.spec)

    def add(self, spec: JobSpec, sign: int = 1) -> None:
        if spec.queue in self.usage:
            self.usage[spec.queue] += sign * demand(spec)

    def share(self, queue: str) -> float:
        if queue not in self.usage:
            return 0.0
        return float((self.usage[queue] / self.capacity).max() / self.weight[queue])
