"""Gang admission's fit check: every worker placed by the real placement engine, or none.

Quota arithmetic alone admits an 8-GPU pod when the free GPUs are split 4 + 4, and the pod
then hangs (Kueue's all-or-nothing docs say so). Here each worker is placed, in turn, by the
same GPU-share engine and default policy that binds pods in the twin
(``tidewise.placement.scheduler``), on a copy of the nodes' free resources; a job is
admitted only if all its workers land, and the binds it gets are those placements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from tidewise.model import MILLI_PER_GPU, Bind, Job, JobSpec, Node, PurchaseOption, Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import without_memory
from tidewise.placement.gpu_policies import Placement
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES, default_policy
from tidewise.queue.quota import gpus


class GangFit:
    """The schedulable nodes' free resources for one admission pass, and the engine's policy.

    Spot nodes take only checkpointable jobs (a job that cannot resume would lose all its
    work to an interruption); CPU-only workers stay off GPU nodes, as in the scheduler.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        jobs: Sequence[Job],
        cached: Mapping[str, frozenset[str]],
        rng: np.random.Generator,
    ) -> None:
        self.nodes = [n for n in nodes if n.schedulable]
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.cluster = GpuCluster.of_nodes(self.nodes, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
        seen: Counter[Resources] = Counter()
        for job in jobs:
            seen[without_memory(job.spec.worker)] += job.spec.workers
        self.policy = default_policy(np.arange(len(self.nodes)), seen)
        self.rng = rng
        self.models = np.array([n.capacity.gpu_model or "" for n in self.nodes], dtype=object)
        self.spot = np.array(
            [n.offering.option is PurchaseOption.SPOT for n in self.nodes], dtype=bool
        )
        self.cached = cached

    def allowed(self, spec: JobSpec, flavor: str | None) -> np.ndarray:
        """Nodes the job's workers may use: its flavour's GPU model; spot if it can resume."""
        ok = np.ones(len(self.nodes), dtype=bool)
        if flavor is not None:
            ok &= self.models == flavor
        if not spec.checkpointable:
            ok &= ~self.spot
        return ok

    def caching(self, dataset: str | None) -> np.ndarray | None:
        """Nodes holding the dataset's cache (Fluid's preferred node affinity), if it has one."""
        if dataset is None:
            return None
        holders = self.cached.get(dataset, frozenset())
        return np.array([n.name in holders for n in self.nodes], dtype=bool)

    def place(self, spec: JobSpec, allowed: np.ndarray) -> list[Placement] | None:
        """Bind every worker on the copy, or nothing; cached nodes first when there are any."""
        shape = spec.worker
        preferred = self.caching(spec.dataset)
        placed: list[Placement] = []
        for _ in range(spec.workers):
            feasible = self.cluster.feasible(shape) & allowed
            if preferred is not None and (feasible & preferred).any():
                feasible &= preferred
            candidates = np.flatnonzero(feasible)
            if not len(candidates):
                self.unplace(shape, placed)
                return None
            placement = self.policy.place(self.cluster, shape, candidates, self.rng)
            self.cluster.bind(placement.node, shape, placement.gpus)
            self.policy.bound(self.cluster, shape, placement)
            placed.append(placement)
        return placed

    def unplace(self, shape: Resources, placed: Sequence[Placement]) -> None:
        for placement in placed:
            self.cluster.release(placement.node, shape, placement.gpus)
            self.policy.bound(self.cluster, shape, placement)  # refreshes the node's row

    def node_indices(self, job: Job) -> list[int]:
        """Where the job's workers run, among the pass's nodes."""
        return [self.index[b.node] for b in job.binds if b.node in self.index]

    def binds(self, spec: JobSpec, placed: Sequence[Placement]) -> tuple[Bind, ...]:
        return tuple(
            Bind(pod, self.nodes[p.node].name, p.gpus)
            for pod, p in zip(spec.pod_names(), placed, strict=True)
        )

    def evict(self, job: Job, sign: int = 1) -> None:
        """Free (``sign=1``) or take back (``-1``) a running job's resources on the copy."""
        shape = job.spec.worker
        for bind in job.binds:
            node = self.index.get(bind.node)
            if node is None:
                continue  # on a node no longer schedulable: frees nothing placeable
            if sign > 0:
                self.cluster.release(node, shape, bind.gpu_indices)
            else:
                self.cluster.bind(node, shape, bind.gpu_indices)
            self.policy.bound(self.cluster, shape, Placement(node, bind.gpu_indices))

    def shortfall(self, spec: JobSpec, allowed: np.ndarray) -> str:
        """What is missing, in words: the shape asked for against the best single node."""
        shape = spec.worker
        nodes = np.flatnonzero(allowed & self.cluster.admitted(shape))
        what = _worker_words(spec)
        if not len(nodes):
            kind = f"{spec.worker.gpu_model or 'GPU'} node" if shape.wants_gpu else "CPU node"
            return f"no fit: needs {what}; no {kind} it may use is up"
        c = self.cluster
        if shape.wants_gpu:
            per_node = c.fitting_count(shape, nodes)
            if shape.is_gpu_share:
                if not per_node.any():
                    return f"no fit: needs {what}; no GPU has that much free"
            else:
                best = int(per_node.max())
                total = int(per_node.sum())
                if best < shape.gpu_devices:
                    return (
                        f"no fit: needs {what}; {total} GPUs are free but at most {best} "
                        "on one node"
                    )
            with_gpus = nodes[per_node >= shape.gpu_devices]
        else:
            with_gpus = nodes
        cpu = int(c.cpu_free[with_gpus].max()) if len(with_gpus) else 0
        memory = int(c.memory_free[with_gpus].max()) if len(with_gpus) else 0
        if cpu < shape.cpu_milli or memory < shape.memory_mib:
            return (
                f"no fit: needs {what}; nodes with the GPUs have at most {cpu / 1000:g} CPU "
                f"and {memory / 1024:g} GiB free"
            )
        return f"no fit: needs {what}; fewer than {spec.workers} nodes can host a worker"


def _worker_words(spec: JobSpec) -> str:
    worker = spec.worker
    if worker.gpu_count:
        gpu = f"{gpus(worker.gpu_count * MILLI_PER_GPU)} on one node"
    elif worker.wants_gpu:
        share = f"{worker.gpu_milli / MILLI_PER_GPU:g} of " if worker.gpu_milli else ""
        memory = f" with {worker.gpu_memory_mib / 1024:g} GiB" if worker.gpu_memory_mib else ""
        gpu = f"{share}one GPU{memory}"
    else:
        gpu = "no GPU"
    model = f" ({worker.gpu_model})" if worker.gpu_model else ""
    count = f"{spec.workers} workers of " if spec.distributed else ""
    return f"{count}{gpu}{model}, {worker.cpu_milli / 1000:g} CPU, {worker.memory_mib} MiB"
