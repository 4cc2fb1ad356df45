"""Which waiting gangs get placeholder pods: the training pool grown from zero.

A gang that quota admits but no node can host waits (``no-fit``). On a cluster whose nodes
are bought by a node autoscaler (Karpenter), nothing is bought for it: the job is suspended,
so it has no pending pods to buy for. Low-priority placeholder pods of the gang's exact shape
make the autoscaler buy the nodes; once they are up the next pass admits the gang there and
the placeholders go (the over-provisioning pattern, applied to one gang).

The rule is the twin's elastic pool (``tidewise/sim/jobs/replay.py``, ``grow``): the gangs
the pass left waiting for room (``no-fit`` or ``reserved``), in the pass's own order, within
what the pools may still buy. Two more bounds, so no node is bought for a gang the queue would
not admit next: each gang is charged to its queue's quota in turn (two gangs quota allows one
at a time do not both get places), and once a gang does not fit what its GPU model's pools
may still buy, no later gang of that model is given places ahead of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tidewise.model import MILLI_PER_GPU, JobSpec
from tidewise.queue.config import QueueConfig
from tidewise.queue.plan import QueuePlan, QueueSnapshot, WaitKind
from tidewise.queue.quota import Assignment, QuotaBook

FOR_ROOM = (WaitKind.NO_FIT, WaitKind.RESERVED)
"""Waits that more nodes would end: quota allows the gang, the nodes do not."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Places to hold for ``job``: ``gpus`` whole GPUs of the pools of ``flavor``."""

    job: str
    flavor: str
    gpus: int


def gpus_to_buy(spec: JobSpec) -> int:
    """Whole GPUs the gang's workers take on new nodes: a share of a GPU (one pod) still
    needs one."""
    per_worker = math.ceil(spec.gpu_milli_per_worker / MILLI_PER_GPU)
    return spec.workers * max(per_worker, 1 if spec.worker.wants_gpu else 0)


def placeholder_holds(
    snapshot: QueueSnapshot,
    plan: QueuePlan,
    queues: Sequence[QueueConfig],
    room: Mapping[str, int],
) -> tuple[Hold, ...]:
    """The gangs to hold places for, in the pass's order.

    ``room``: GPUs the node pools may still buy beyond the nodes there are, by GPU model as
    quota flavours name it (pools without a GPU limit are not counted: no placeholder is
    made for capacity nobody bounded). CPU-only gangs get none.
    """
    admitted = [j for j in snapshot.jobs if j.admitted]
    book = QuotaBook(queues, admitted)
    specs = {j.name: j.spec for j in snapshot.jobs}
    for admit in plan.admit:
        book.charge(specs[admit.job], admit.flavor)
    left = dict(room)
    blocked: set[str] = set()
    holds = []
    for waiting in plan.waiting:
        if waiting.kind not in FOR_ROOM:
            continue
        spec = specs[waiting.job]
        verdict = book.assign(spec)
        if not isinstance(verdict, Assignment) or verdict.flavor is None:
            continue
        flavor, gpus = verdict.flavor, gpus_to_buy(spec)
        if flavor in blocked:
            continue
        if gpus > left.get(flavor, 0):
            blocked.add(flavor)  # later gangs do not jump it
            continue
        left[flavor] -= gpus
        book.charge(spec, flavor)
        holds.append(Hold(waiting.job, flavor, gpus))
    return tuple(holds)
