"""GPU quota in use per queue and flavour, and whether a job may take more: Kueue's rules.

A job fits a flavour of its queue when its queue stays within nominal plus borrowing limit
and the cohort as a whole stays within what its members lend: summed over the cohort's
queues, the use beyond each one's guaranteed part may not exceed the lendable parts
(kubernetes-sigs/kueue, concepts/cluster_queue.md, "Borrowing"). A queue without a cohort
is a cohort of one, where this reduces to staying within nominal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tidewise.model import MILLI_PER_GPU, Job, JobSpec
from tidewise.queue.config import QueueConfig


@dataclass(frozen=True, slots=True)
class Assignment:
    """A flavour with room for the job; ``borrowing``: beyond its queue's nominal."""

    flavor: str | None
    borrowing: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """No flavour has room. ``reclaimable``: flavours where the job fits its queue's own
    nominal quota but the cohort has lent it out (borrowed quota can be taken back)."""

    reason: str
    reclaimable: tuple[str, ...] = ()


def gpus(milli: int) -> str:
    """Milli-GPU in words: ``8 GPUs``, ``0.25 GPU``."""
    value = milli / MILLI_PER_GPU
    return f"{value:g} GPU" + ("s" if value > 1 else "")


class QuotaBook:
    """Mutable within one admission pass: charge and uncharge as jobs are admitted or evicted."""

    def __init__(self, queues: Sequence[QueueConfig], admitted: Iterable[Job]) -> None:
        self.queues = {q.name: q for q in queues}
        self.used: Counter[tuple[str, str]] = Counter()
        for job in admitted:
            if job.flavor is not None:
                self.charge(job.spec, job.flavor)

    def copy(self) -> QuotaBook:
        book = QuotaBook(tuple(self.queues.values()), ())
        book.used = self.used.copy()
        return book

    def pool(self, queue: str) -> str:
        """The quota pool a queue draws from: its cohort, or itself without one."""
        config = self.queues.get(queue)
        return queue if config is None or config.cohort is None else f"cohort:{config.cohort}"

    def charge(self, spec: JobSpec, flavor: str | None, sign: int = 1) -> None:
        if flavor is not None:
            self.used[spec.queue, flavor] += sign * spec.gpu_milli

    def cohort(self, queue: QueueConfig) -> list[QueueConfig]:
        if queue.cohort is None:
            return [queue]
        return [q for q in self.queues.values() if q.cohort == queue.cohort]

    def flavors(self, spec: JobSpec) -> list[str]:
        """The flavours the job may run on, in its queue's order."""
        queue = self.queues[spec.queue]
        allowed = spec.worker.gpu_models
        return [q.flavor for q in queue.quotas if allowed is None or q.flavor in allowed]

    def assign(self, spec: JobSpec) -> Assignment | Refusal:
        """The first flavour, in the queue's order, with room for the job."""
        if spec.queue not in self.queues:
            known = ", ".join(sorted(self.queues))
            return Refusal(f"queue {spec.queue!r} does not exist (queues: {known})")
        if not spec.worker.wants_gpu:
            return Assignment(None, borrowing=False)
        flavors = self.flavors(spec)
        if not flavors:
            return Refusal(
                f"queue {spec.queue!r} has no quota for GPU model {spec.worker.gpu_model}"
            )
        reasons = []
        reclaimable = []
        for flavor in flavors:
            verdict = self._room(spec, flavor)
            if isinstance(verdict, Assignment):
                return verdict
            reasons.append(verdict)
            if self.within_nominal(spec, flavor):
                reclaimable.append(flavor)
        return Refusal("quota: " + "; ".join(reasons), tuple(reclaimable))

    def within_nominal(self, spec: JobSpec, flavor: str) -> bool:
        quota = self.queues[spec.queue].quota(flavor)
        return quota is not None and (
            self.used[spec.queue, flavor] + spec.gpu_milli <= quota.nominal_milli
        )

    def _room(self, spec: JobSpec, flavor: str) -> Assignment | str:
        queue = self.queues[spec.queue]
        quota = queue.quota(flavor)
        assert quota is not None
        used = self.used[queue.name, flavor]
        after = used + spec.gpu_milli
        limit = quota.borrowing_limit_milli
        if limit is not None and after > quota.nominal_milli + limit:
            return (
                f"queue {queue.name!r} uses {gpus(used)} of {flavor} of "
                f"{gpus(quota.nominal_milli)} nominal + {gpus(limit)} it may borrow; "
                f"the job needs {gpus(spec.gpu_milli)}"
            )
        members = self.cohort(queue)
        pool = 0
        beyond = 0  # use beyond the guaranteed parts, before the job
        for member in members:
            member_quota = member.quota(flavor)
            guaranteed = member_quota.guaranteed_milli if member_quota else 0
            pool += member_quota.lendable_milli if member_quota else 0
            beyond += max(0, self.used[member.name, flavor] - guaranteed)
        own = quota.guaranteed_milli
        grows = max(0, after - own) - max(0, used - own)
        if beyond + grows <= pool:
            return Assignment(flavor, borrowing=after > quota.nominal_milli)
        if queue.cohort is None:
            return (
                f"queue {queue.name!r} uses {gpus(used)} of its {gpus(quota.nominal_milli)} "
                f"of {flavor}; the job needs {gpus(spec.gpu_milli)}"
            )
        return (
            f"queue {queue.name!r} uses {gpus(used)} of its {gpus(quota.nominal_milli)} of "
            f"{flavor} and cohort {queue.cohort!r} has {gpus(max(pool - beyond, 0))} left to lend; "
            f"the job needs {gpus(spec.gpu_milli)}"
        )
