"""Training jobs: what a user submits (``JobSpec``) and where it stands (``Job``).

A job is one pod (``workers == 1``) or a gang of identical workers (PyTorchJob-like), each
asking for ``worker`` resources: whole GPUs (``gpu_count``) or a share of one GPU
(``gpu_milli`` and/or ``gpu_memory_mib``). Statuses are Arena's, the words users already know
(research notes jobs-multicluster.md §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tidewise.model.decisions import Bind
from tidewise.model.resources import MILLI_PER_GPU, Resources

DEFAULT_QUEUE = "default"


class JobPhase(StrEnum):
    QUEUING = "QUEUING"  # waiting for admission (quota and a place for every worker)
    PENDING = "PENDING"  # admitted and bound; containers starting (image, dataset read)
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (JobPhase.SUCCEEDED, JobPhase.FAILED)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What was submitted. ``priority``: higher runs first and may preempt lower.

    ``checkpointable`` jobs save their progress and so may run on spot capacity and are the
    preferred victims of preemption: they lose only the work since their last checkpoint.
    ``dataset`` names a cached dataset (Fluid's Dataset) the job reads at start-up.
    """

    name: str
    worker: Resources
    workers: int = 1
    image: str = ""
    command: tuple[str, ...] = ()
    priority: int = 0
    queue: str = DEFAULT_QUEUE
    checkpointable: bool = False
    dataset: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a job needs a name")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.workers > 1 and self.worker.is_gpu_share:
            raise ValueError("distributed workers take whole GPUs; a GPU share is for one pod")

    @property
    def distributed(self) -> bool:
        return self.workers > 1

    @property
    def gpu_milli_per_worker(self) -> int:
        """GPU asked by one worker in milli-GPU; a memory-only share counts as 0."""
        return self.worker.gpu_milli_total

    @property
    def gpu_milli(self) -> int:
        """GPU asked by the whole job, in milli-GPU (what GPU quota is charged)."""
        return self.workers * self.gpu_milli_per_worker

    @property
    def gpus(self) -> float:
        return self.gpu_milli / MILLI_PER_GPU

    def pod_names(self) -> tuple[str, ...]:
        """The worker pods' names, as the training operator names them."""
        if not self.distributed:
            return (f"{self.name}-0",)
        workers = (f"{self.name}-worker-{i}" for i in range(self.workers - 1))
        return (f"{self.name}-master-0", *workers)


@dataclass(frozen=True, slots=True)
class Job:
    """A job's observed state. ``binds`` hold one bind per worker while admitted.

    ``flavor`` is the GPU model whose quota the job is charged to; ``borrowing`` says whether
    it was admitted on quota borrowed from its cohort (so it is the first to be reclaimed).
    """

    spec: JobSpec
    phase: JobPhase
    submitted_s: float
    admitted_s: float | None = None
    flavor: str | None = None
    borrowing: bool = False
    binds: tuple[Bind, ...] = ()
    finished_s: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def admitted(self) -> bool:
        return self.phase in (JobPhase.PENDING, JobPhase.RUNNING)
