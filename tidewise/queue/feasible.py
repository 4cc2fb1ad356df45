"""Whether a job could ever start: the check ``tidewise job submit`` makes before queueing it.

A job that asks for 100 GPUs on a 16-GPU cluster, names a queue that does not exist, or has
CPU-only workers on a cluster of GPU nodes (the gang fit keeps them off GPU nodes) would wait
forever, and the queue would say why only on ``job get``. The test is the admission policy
itself, not a second set of rules: the job alone, on the nodes emptied, with every queue's
quota free. If the policy would not admit it then, it never will, and its waiting reason says
why. (It holds for clusters whose nodes are fixed, as the twin's; on a cluster that buys
nodes, a job too big for today's nodes may fit tomorrow's.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tidewise.model import Job, JobPhase, JobSpec, Node
from tidewise.queue.admission import QueuePolicy
from tidewise.queue.plan import QueueSnapshot, WaitKind


@dataclass(frozen=True, slots=True)
class Never:
    """Why a job can never start: the kind of wait it would be stuck in, and the reason."""

    kind: WaitKind
    reason: str


def never_starts(spec: JobSpec, policy: QueuePolicy, empty_nodes: Sequence[Node]) -> Never | None:
    """``None`` when ``spec`` would be admitted alone on ``empty_nodes`` (nodes with nothing
    bound); else the policy's own reason it would wait there, which no later state of the
    cluster can lift."""
    alone = Job(spec, phase=JobPhase.QUEUING, submitted_s=0.0)
    plan = policy.plan(QueueSnapshot(0.0, tuple(empty_nodes), (alone,)), np.random.default_rng(0))
    if plan.admit:
        return None
    waiting = plan.waiting_for(spec.name)
    if waiting is None:  # neither admitted nor waiting: the policy's contract is broken
        raise AssertionError(f"the queue policy neither admitted nor kept {spec.name!r}")
    return Never(waiting.kind, waiting.reason)
