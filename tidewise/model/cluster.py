"""Nodes and pods as immutable records: the twin and the real adapters replace, never mutate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tidewise.model.offering import Offering, PurchaseOption
from tidewise.model.resources import MILLI_PER_GPU, Resources


class NodeState(StrEnum):
    LAUNCHING = "launching"  # bought, booting, not yet Ready: billed, no pods
    READY = "ready"
    CORDONED = "cordoned"  # takes no new pods: draining, or an interruption notice arrived
    NOT_READY = "not-ready"  # was Ready, then failed: billed, its pods do not serve


class PodPhase(StrEnum):
    PENDING = "pending"  # not bound to a node
    STARTING = "starting"  # bound, container starting, not Ready
    RUNNING = "running"  # Ready, serving


@dataclass(frozen=True, slots=True)
class Node:
    """A VM (or one serverless container's virtual node) and what is bound to it.

    ``gpu_free_milli`` holds the free share of each GPU (1000 = idle) and
    ``gpu_free_memory_mib`` its free memory (starting at ``capacity.device_memory_mib``); a
    node built without them has every GPU idle. ``allocated`` sums the CPU and memory of the
    pods bound to it. ``notice_s`` is when an interruption notice arrived, ``failed_s`` when
    it went NotReady (``None`` if not).
    """

    name: str
    offering: Offering
    capacity: Resources
    state: NodeState
    launched_s: float
    ready_s: float | None = None
    allocated_cpu_milli: int = 0
    allocated_memory_mib: int = 0
    gpu_free_milli: tuple[int, ...] = ()
    gpu_free_memory_mib: tuple[int, ...] = ()
    pod_count: int = 0
    notice_s: float | None = None
    failed_s: float | None = None

    def __post_init__(self) -> None:
        gpus = self.capacity.gpu_count
        if gpus and not self.gpu_free_milli and not self.gpu_free_memory_mib:
            object.__setattr__(self, "gpu_free_milli", (MILLI_PER_GPU,) * gpus)
            memory = (self.capacity.device_memory_mib,) * gpus
            object.__setattr__(self, "gpu_free_memory_mib", memory)

    @property
    def free_cpu_milli(self) -> int:
        return self.capacity.cpu_milli - self.allocated_cpu_milli

    @property
    def free_memory_mib(self) -> int:
        return self.capacity.memory_mib - self.allocated_memory_mib

    @property
    def schedulable(self) -> bool:
        return self.state is NodeState.READY

    @property
    def utilisation(self) -> float:
        """Requested over allocatable, the larger of CPU and memory (cluster-autoscaler's)."""
        cpu = self.allocated_cpu_milli / self.capacity.cpu_milli if self.capacity.cpu_milli else 0
        mem = (
            self.allocated_memory_mib / self.capacity.memory_mib if self.capacity.memory_mib else 0
        )
        return max(cpu, mem)


@dataclass(frozen=True, slots=True)
class Pod:
    """A replica. ``capacity_types`` is a node selector on purchase options (``None``: any).
    ``do_not_disrupt``: this pod keeps its node from voluntary disruption (Karpenter's
    ``karpenter.sh/do-not-disrupt``, or cluster-autoscaler's rules for a pod nobody would
    recreate or whose local data would be lost)."""

    name: str
    workload: str
    requests: Resources
    phase: PodPhase
    created_s: float
    node: str | None = None
    gpu_indices: tuple[int, ...] = ()
    ready_s: float | None = None
    capacity_types: frozenset[PurchaseOption] | None = None
    do_not_disrupt: bool = False

    def may_run_on(self, node: Node) -> bool:
        return self.capacity_types is None or node.offering.option in self.capacity_types
