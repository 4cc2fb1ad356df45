"""What one admission pass decides, as data: admissions, preemptions and why the rest wait."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tidewise.model import Bind, Job, Node


class WaitKind(StrEnum):
    NO_QUEUE = "no-queue"  # names a queue that does not exist
    QUOTA = "quota"  # its queue (and cohort) has no GPU quota left for it
    NO_FIT = "no-fit"  # quota allows it, but the nodes cannot host every worker now
    RESERVED = "reserved"  # it would fit, but only on nodes held for a job ahead of it
    BEHIND = "behind"  # strict FIFO: the head of its queue waits, so it waits too


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The policy's only input: the time, the nodes, every unfinished job, which nodes
    cache which dataset (Fluid's Dataset status: dataset name to node names), and the
    estimated seconds each job has left to hold its GPUs (a waiting job: its whole run,
    start-up included; a running one: until it ends), from users' run-time limits or
    history. A job without an estimate is planned as if its run time were unknown."""

    time_s: float
    nodes: tuple[Node, ...]
    jobs: tuple[Job, ...]
    cached: Mapping[str, frozenset[str]] = field(default_factory=dict)
    remaining_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admit:
    job: str
    flavor: str | None
    borrowing: bool
    binds: tuple[Bind, ...]


@dataclass(frozen=True, slots=True)
class Preempt:
    """Evict ``job`` (it goes back to its queue) so that ``by`` can start."""

    job: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """A job left waiting: its 1-based position among its queue's waiting jobs, in the order
    the pass considered them, and the reason in words."""

    job: str
    queue: str
    position: int
    kind: WaitKind
    reason: str


@dataclass(frozen=True, slots=True)
class QueuePlan:
    admit: tuple[Admit, ...]
    preempt: tuple[Preempt, ...]
    waiting: tuple[Waiting, ...]

    def waiting_for(self, job: str) -> Waiting | None:
        return next((w for w in self.waiting if w.job == job), None)
