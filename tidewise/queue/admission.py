"""One admission pass over the waiting jobs: order, quota, gang fit, preemption, backfill.

Orderings:

* ``fifo``: Kueue's StrictFIFO. Priority, then submission time; the head of a queue that
  cannot start holds back every job behind it in that queue.
* ``best-effort-fifo``: Kueue's default BestEffortFIFO. Same order, but a job that cannot
  start lets later ones pass; nothing stops a large job from being passed forever.
* ``easy``: EASY backfilling (Lifka 1995; Mu'alem & Feitelson 2001), what Slurm's backfill
  does: FIFO order; the first job of each GPU model that does not fit holds a reservation of
  the nodes it will start on when the running jobs end as estimated (its *shadow time*);
  later jobs may use those nodes only if they are estimated to end by then.
* ``tidewise``: priority; then jobs waiting longer than ``age_s`` (in submission order); then
  across queues the smallest dominant share first (DRF); within a queue the smallest
  estimated GPU-time (GPUs x run time left; without estimates, the fewest GPUs) first, then
  submission time. The first job of each GPU model that does not fit holds a reservation as
  in ``easy``; besides jobs that end before the shadow time, checkpointable jobs may use
  the reserved nodes, and the head evicts them the moment that lets it start. Without
  estimates the reservation takes the nodes likeliest to free up first and only
  checkpointable jobs backfill onto them. With the aging rule this bounds every job's wait
  (docs/queue.md).

Run-time estimates come in the snapshot (``QueueSnapshot.remaining_s``); a policy with
``use_estimates=False`` ignores them.

Level-triggered: the pass derives everything from the snapshot, so repeating it after a
crash or a lost event gives the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from tidewise.model import MILLI_PER_GPU, Job, JobPhase
from tidewise.placement.gpu_policies import Placement
from tidewise.queue.config import QueueConfig
from tidewise.queue.drf import DominantShares
from tidewise.queue.gang import GangFit
from tidewise.queue.plan import Admit, Preempt, QueuePlan, QueueSnapshot, Waiting, WaitKind
from tidewise.queue.preemption import victim_order, victims_needed
from tidewise.queue.quota import Assignment, QuotaBook, Refusal

DEFAULT_AGE_S = 6 * 3600.0


class Ordering(StrEnum):
    FIFO = "fifo"
    BEST_EFFORT_FIFO = "best-effort-fifo"
    EASY = "easy"
    TIDEWISE = "tidewise"


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """The queueing policy: the queues, an ordering, the aging bound (seconds), and whether
    the snapshot's run-time estimates are used."""

    queues: tuple[QueueConfig, ...]
    ordering: Ordering = Ordering.TIDEWISE
    age_s: float = DEFAULT_AGE_S
    use_estimates: bool = True

    def plan(self, snapshot: QueueSnapshot, rng: np.random.Generator) -> QueuePlan:
        return _Pass(self, snapshot, rng).run()


@dataclass(frozen=True, slots=True)
class _QuotaHold:
    """Quota held for a job its queue's quota refused (EASY on quota): ``future`` is the
    quota in use at ``start_s`` as estimated, the owner and every later job that runs past
    ``start_s`` charged; a later job may take quota now only if it ends by ``start_s`` or
    still fits ``future``."""

    owner: str
    start_s: float
    future: QuotaBook


@dataclass(frozen=True, slots=True)
class _Reservation:
    owner: str
    nodes: np.ndarray  # mask over the pass's nodes
    start_s: float | None = None  # when the owner is expected to start there (shadow time)


class _Pass:
    def __init__(
        self, policy: QueuePolicy, snapshot: QueueSnapshot, rng: np.random.Generator
    ) -> None:
        self.policy = policy
        self.time_s = snapshot.time_s
        self.running = [j for j in snapshot.jobs if j.admitted]
        self.lowest_priority = min((j.spec.priority for j in self.running), default=0)
        self.waiting_jobs = [j for j in snapshot.jobs if j.phase is JobPhase.QUEUING]
        self.remaining = dict(snapshot.remaining_s) if policy.use_estimates else {}
        self.unknown_s = max(self.remaining.values(), default=1.0)  # a job without estimate
        self.reserving = policy.ordering in (Ordering.EASY, Ordering.TIDEWISE)
        self.started: list[Job] = []  # admitted by this pass, with their binds
        self.book = QuotaBook(policy.queues, self.running)
        self.fit = GangFit(snapshot.nodes, snapshot.jobs, snapshot.cached, rng)
        self.shares = DominantShares(policy.queues, self.fit.nodes, self.running)
        self.reserved: dict[str | None, _Reservation] = {}
        self.holds: dict[str, _QuotaHold] = {}  # quota pool -> the hold
        self.blocked: dict[str, str] = {}  # strict FIFO: queue -> the head holding it
        self.failed: set[tuple[object, ...]] = set()  # shapes that found no room this pass
        self.admits: list[Admit] = []
        self.preempts: list[Preempt] = []
        self.waits: list[tuple[Job, WaitKind, str]] = []

    # ordering ----------------------------------------------------------------------------

    def aged(self, job: Job) -> bool:
        return (
            self.policy.ordering is Ordering.TIDEWISE
            and self.time_s - job.submitted_s >= self.policy.age_s
        )

    def order(self) -> Iterator[Job]:
        if self.policy.ordering is not Ordering.TIDEWISE:
            yield from sorted(
                self.waiting_jobs, key=lambda j: (-j.spec.priority, j.submitted_s, j.name)
            )
            return
        by_queue: dict[str, list[Job]] = {}
        for job in self.waiting_jobs:
            by_queue.setdefault(job.spec.queue, []).append(job)
        for jobs in by_queue.values():
            jobs.sort(key=self._within_queue, reverse=True)  # pop() from the end
        while by_queue:
            queue = min(by_queue, key=lambda q: self._across_queues(by_queue[q][-1]))
            yield by_queue[queue].pop()
            if not by_queue[queue]:
                del by_queue[queue]

    def _within_queue(self, job: Job) -> tuple[object, ...]:
        aged = self.aged(job)
        size = 0.0 if aged else job.spec.gpu_milli * self.remaining.get(job.name, self.unknown_s)
        return (-job.spec.priority, not aged, size, job.submitted_s, job.name)

    def _across_queues(self, job: Job) -> tuple[object, ...]:
        key = self._within_queue(job)
        return (*key[:2], self.shares.share(job.spec.queue), *key[2:])

    # the pass ----------------------------------------------------------------------------

    def run(self) -> QueuePlan:
        for job in self.order():
            self.consider(job)
        positions: dict[str, int] = {}
        waiting = []
        for job, kind, reason in self.waits:
            positions[job.spec.queue] = positions.get(job.spec.queue, 0) + 1
            waiting.append(
                Waiting(job.name, job.spec.queue, positions[job.spec.queue], kind, reason)
            )
        return QueuePlan(tuple(self.admits), tuple(self.preempts), tuple(waiting))

    def consider(self, job: Job) -> None:
        spec = job.spec
        strict = self.policy.ordering is Ordering.FIFO
        if strict and spec.queue in self.blocked:
            head = self.blocked[spec.queue]
            self.wait(job, WaitKind.BEHIND, f"behind {head}, the head of queue {spec.queue!r}")
            return
        verdict = self.book.assign(spec)
        if isinstance(verdict, Refusal):
            if spec.queue not in self.book.queues:
                self.wait(job, WaitKind.NO_QUEUE, verdict.reason)
                return
            hold_note = self.hold_quota(job)
            if not self.preempt_for(job, verdict):
                self.wait(job, WaitKind.QUOTA, verdict.reason + hold_note)
            return
        hold = self.holds.get(self.book.pool(spec.queue))
        if hold is not None and hold.owner != job.name and not self.fits_hold(job, hold):
            hours = (hold.start_s - self.time_s) / 3600
            self.wait(
                job,
                WaitKind.RESERVED,
                f"would take quota held for {hold.owner}, which is ahead of it and expected to "
                f"start in {hours:.1f} h",
            )
            return
        allowed = self.fit.allowed(spec, verdict.flavor)
        held = self.held_from(job, verdict.flavor)
        placed = self.try_place(job, verdict, allowed & ~held)
        if placed is None and held.any() and self.backfills(job, verdict.flavor):
            placed = self.try_place(job, verdict, allowed)
        if placed is not None:
            self.admit(job, verdict, placed)
            return
        self.reserve_if_head(job, verdict.flavor, allowed)
        if self.preempt_for(job, None):
            return
        self.explain_no_fit(job, verdict.flavor, allowed)

    def backfills(self, job: Job, flavor: str | None) -> bool:
        """Whether the job may use nodes reserved for another: one estimated to end before
        the owner's shadow time (EASY), or (tidewise) a checkpointable one, which the owner
        evicts the moment that lets it start. Either way backfilling does not delay the head
        (as far as the estimates hold), and costs a checkpointable job at most one
        checkpoint."""
        if self.policy.ordering is Ordering.TIDEWISE and job.spec.checkpointable:
            return True
        reservation = self.reserved.get(flavor)
        estimate = self.remaining.get(job.name)
        return (
            reservation is not None
            and reservation.start_s is not None
            and estimate is not None
            and self.time_s + estimate <= reservation.start_s
        )

    def wait(self, job: Job, kind: WaitKind, reason: str) -> None:
        self.waits.append((job, kind, reason))
        if self.policy.ordering is Ordering.FIFO:
            self.blocked.setdefault(job.spec.queue, job.name)

    def held_from(self, job: Job, flavor: str | None) -> np.ndarray:
        """Nodes reserved for another job: this one may not use them."""
        reservation = self.reserved.get(flavor)
        if reservation is None or reservation.owner == job.name:
            return np.zeros(len(self.fit.nodes), dtype=bool)
        return reservation.nodes

    def try_place(
        self, job: Job, verdict: Assignment, allowed: np.ndarray
    ) -> list[Placement] | None:
        spec = job.spec
        key = (
            spec.worker,
            spec.workers,
            verdict.flavor,
            spec.checkpointable,
            allowed.tobytes(),
        )
        owner = self.reserved.get(verdict.flavor)
        memo = owner is None or owner.owner != job.name
        if memo and key in self.failed:
            return None
        placed = self.fit.place(spec, allowed)
        if placed is None and memo:
            self.failed.add(key)
        return placed

    def admit(self, job: Job, verdict: Assignment, placed: Sequence[Placement]) -> None:
        self.book.charge(job.spec, verdict.flavor)
        self.shares.add(job.spec)
        binds = self.fit.binds(job.spec, placed)
        self.admits.append(Admit(job.name, verdict.flavor, verdict.borrowing, binds))
        hold = self.holds.get(self.book.pool(job.spec.queue))
        if hold is not None and not self.ends_by(job, hold.start_s):
            future = hold.future.assign(job.spec)
            if isinstance(future, Assignment):
                hold.future.charge(job.spec, future.flavor)
        self.started.append(replace(job, binds=binds, admitted_s=self.time_s))

    # quota refused: hold it ------------------------------------------------------------

    def ends_by(self, job: Job, time_s: float) -> bool:
        estimate = self.remaining.get(job.name)
        return estimate is not None and self.time_s + estimate <= time_s

    def fits_hold(self, job: Job, hold: _QuotaHold) -> bool:
        """A later job may take quota held for another if it is estimated to give it back
        in time, or leaves the owner room at its start (or, tidewise, can be evicted from a
        checkpoint: the owner takes it back the moment that lets it start)."""
        if self.ends_by(job, hold.start_s):
            return True
        if self.policy.ordering is Ordering.TIDEWISE and job.spec.checkpointable:
            return True
        return isinstance(hold.future.assign(job.spec), Assignment)

    def hold_quota(self, job: Job) -> str:
        """The first job of a quota pool that quota refuses holds its quota from the time
        the running jobs give enough back as estimated (EASY, with quota as the resource).
        Returns words for its reason."""
        pool = self.book.pool(job.spec.queue)
        if not (self.reserving and self.remaining) or pool in self.holds:
            return ""
        future = self.book.copy()
        holders = sorted(
            (self.time_s + self.remaining.get(o.name, math.inf), i, o)
            for i, o in enumerate((*self.running, *self.started))
        )
        for end_s, _, other in holders:
            if not math.isfinite(end_s):
                return ""
            future.charge(other.spec, other.flavor, -1)
            verdict = future.assign(job.spec)
            if isinstance(verdict, Assignment):
                future.charge(job.spec, verdict.flavor)
                self.holds[pool] = _QuotaHold(job.name, end_s, future)
                return f"; held for it, expected to start in {(end_s - self.time_s) / 3600:.1f} h"
        return ""

    # no fit: reserve or explain ----------------------------------------------------------

    def reserve_if_head(self, job: Job, flavor: str | None, allowed: np.ndarray) -> None:
        """The first job of a flavour that does not fit holds a reservation (easy, tidewise)."""
        if self.reserving and flavor not in self.reserved and job.spec.worker.gpu_count:
            self.reserve(job, flavor, allowed)

    def explain_no_fit(self, job: Job, flavor: str | None, allowed: np.ndarray) -> None:
        spec = job.spec
        reason = self.fit.shortfall(spec, allowed)
        reservation = self.reserved.get(flavor)
        if reservation is not None and reservation.owner == job.name:
            names = [self.fit.nodes[i].name for i in np.flatnonzero(reservation.nodes)]
            reason += f"; nodes {', '.join(names)} are reserved for it"
            if reservation.start_s is not None:
                hours = (reservation.start_s - self.time_s) / 3600
                reason += f", expected to start in {hours:.1f} h"
        elif reservation is not None:
            placed = self.fit.place(spec, allowed)
            if placed is not None:
                self.fit.unplace(spec.worker, placed)
                self.wait(
                    job,
                    WaitKind.RESERVED,
                    f"fits only on nodes reserved for {reservation.owner}, which is ahead of it",
                )
                return
        self.wait(job, WaitKind.NO_FIT, reason)

    def reserve(self, job: Job, flavor: str | None, allowed: np.ndarray) -> None:
        """Hold nodes for the job: where it starts first as estimated, else a guess."""
        shadow = self.shadow(job, allowed) if self.remaining else None
        if shadow is not None:
            mask, start_s = shadow
            self.reserved[flavor] = _Reservation(job.name, mask, start_s)
            self.failed.clear()
        else:
            self.reserve_likeliest(job, flavor, allowed)

    def shadow(self, job: Job, allowed: np.ndarray) -> tuple[np.ndarray, float] | None:
        """The nodes the job is placed on, and when, if the jobs holding GPUs end as
        estimated (EASY's shadow time): they are released from the pass's copy of the nodes
        in order of estimated end until the placement engine places every worker. None if
        the estimates never make room (a job without one never ends)."""
        spec = job.spec
        holders = [
            other
            for other in (*self.running, *self.started)
            if any(allowed[i] for i in self.fit.node_indices(other))
        ]
        ends = sorted(
            (self.time_s + self.remaining.get(other.name, math.inf), i)
            for i, other in enumerate(holders)
        )
        released: list[Job] = []
        found = None
        for end_s, i in [(self.time_s, -1), *ends]:
            if not math.isfinite(end_s):
                break
            if i >= 0:
                released.append(holders[i])
                self.fit.evict(holders[i])
            whole = self.fit.cluster.gpu_free == MILLI_PER_GPU
            slots = whole.sum(axis=1)[allowed] // spec.worker.gpu_count
            if slots.sum() < spec.workers:
                continue
            placed = self.fit.place(spec, allowed)
            if placed is not None:
                self.fit.unplace(spec.worker, placed)
                mask = np.zeros(len(self.fit.nodes), dtype=bool)
                mask[[p.node for p in placed]] = True
                found = (mask, max(end_s, self.time_s))
                break
        for other in reversed(released):
            self.fit.evict(other, sign=-1)
        return found

    def reserve_likeliest(self, job: Job, flavor: str | None, allowed: np.ndarray) -> None:
        """Without estimates: hold the nodes likely to free up first for the job's workers.

        Most idle GPUs first; among equals, the node whose running jobs started last: with
        heavy-tailed run times a job that has run less has less left to run in expectation
        (the observation behind Tiresias's least-attained-service, NSDI'19).
        """
        spec = job.spec
        cluster = self.fit.cluster
        nodes = np.flatnonzero(allowed & (cluster.gpu_count >= spec.worker.gpu_count))
        if not len(nodes):
            return
        started = np.full(len(self.fit.nodes), -np.inf)
        for other in self.running:
            for bind in other.binds:
                i = self.fit.index.get(bind.node)
                if i is not None and other.admitted_s is not None:
                    started[i] = max(started[i], other.admitted_s)
        idle = cluster.gpu_free.sum(axis=1)
        chosen = []
        slots = 0
        for node in sorted(nodes, key=lambda n: (-idle[n], -started[n])):
            chosen.append(int(node))
            slots += int(cluster.gpu_count[node]) // spec.worker.gpu_count
            if slots >= spec.workers:
                break
        if slots < spec.workers:
            return
        mask = np.zeros(len(self.fit.nodes), dtype=bool)
        mask[chosen] = True
        self.reserved[flavor] = _Reservation(job.name, mask)
        self.failed.clear()

    # preemption --------------------------------------------------------------------------

    def preempt_for(self, job: Job, refusal: Refusal | None) -> bool:
        """Evict the fewest running jobs that let ``job`` start now, if there are such.

        Candidates: jobs of other queues in the cohort running on borrowed quota of a flavour
        the job's own nominal quota covers (reclaim), and lower-priority jobs (of its own
        queue when quota is the problem, of any queue when room is). The order in which
        they are taken is :func:`victim_order`.
        """
        if (
            refusal is None
            and job.spec.priority <= self.lowest_priority
            and not self.may_take_from_overtakers(job)
        ):
            return False  # the common case, decided without looking at every running job
        candidates = [r for r in self.running if self.may_evict(job, r, refusal)]
        if not candidates:
            return False
        candidates.sort(key=victim_order)
        victims = victims_needed(candidates, lambda vs: self.admissible_without(job, vs))
        if victims is None:
            return False
        for victim in victims:
            self.evict(victim)
            if victim.borrowing and victim.spec.queue != job.spec.queue:
                kind = "reclaimed borrowed quota"
            elif victim.spec.priority < job.spec.priority:
                kind = f"has higher priority ({job.spec.priority} > {victim.spec.priority})"
            else:
                kind = "is ahead of it in the queue and it can resume from a checkpoint"
            self.preempts.append(Preempt(victim.name, job.name, f"{job.name} {kind}"))
        self.failed.clear()
        verdict = self.book.assign(job.spec)
        assert isinstance(verdict, Assignment)
        allowed = self.fit.allowed(job.spec, verdict.flavor) & ~self.held_from(job, verdict.flavor)
        placed = self.fit.place(job.spec, allowed)
        assert placed is not None
        self.holds = {p: h for p, h in self.holds.items() if h.owner != job.name}
        self.admit(job, verdict, placed)
        self.reserved = {f: r for f, r in self.reserved.items() if r.owner != job.name}
        return True

    def may_evict(self, job: Job, running: Job, refusal: Refusal | None) -> bool:
        spec, other = job.spec, running.spec
        if refusal is not None:
            queue = self.book.queues[spec.queue]
            reclaim = (
                running.borrowing
                and other.queue != spec.queue
                and running.flavor in refusal.reclaimable
                and queue.cohort is not None
                and self.book.queues.get(other.queue, queue).cohort == queue.cohort
            )
            lower = other.priority < spec.priority and other.queue == spec.queue
            return reclaim or lower or (self.overtook(job, running) and self.holds_quota(job))
        if other.priority < spec.priority:
            return True
        return self.overtook(job, running) and (
            self.aged(job) or self.on_reserved_for(job, running)
        )

    def overtook(self, job: Job, running: Job) -> bool:
        """A checkpointable job of the same priority that ranks behind ``job`` (tidewise)."""
        return (
            self.policy.ordering is Ordering.TIDEWISE
            and running.spec.checkpointable
            and running.spec.priority == job.spec.priority
            and self._within_queue(running) > self._within_queue(job)
        )

    def holds_quota(self, job: Job) -> bool:
        return any(h.owner == job.name for h in self.holds.values())

    def may_take_from_overtakers(self, job: Job) -> bool:
        """Tidewise: a job past the aging bound, or holding a reservation, may evict
        checkpointable jobs of its priority that rank behind it (on its reserved nodes
        unless it is past the bound): what backfilled must not delay it."""
        if self.policy.ordering is not Ordering.TIDEWISE:
            return False
        return (
            self.aged(job)
            or any(r.owner == job.name for r in self.reserved.values())
            or self.holds_quota(job)
        )

    def on_reserved_for(self, job: Job, running: Job) -> bool:
        reservation = next((r for r in self.reserved.values() if r.owner == job.name), None)
        if reservation is None:
            return False
        return any(reservation.nodes[i] for i in self.fit.node_indices(running))

    def admissible_without(self, job: Job, victims: Sequence[Job]) -> bool:
        for victim in victims:
            self.evict(victim, keep=True)
        verdict = self.book.assign(job.spec)
        placed = None
        if isinstance(verdict, Assignment):
            allowed = self.fit.allowed(job.spec, verdict.flavor)
            placed = self.fit.place(job.spec, allowed & ~self.held_from(job, verdict.flavor))
            if placed is not None:
                self.fit.unplace(job.spec.worker, placed)
        for victim in victims:
            self.restore(victim)
        return placed is not None

    def evict(self, victim: Job, keep: bool = False) -> None:
        self.book.charge(victim.spec, victim.flavor, -1)
        self.shares.add(victim.spec, -1)
        self.fit.evict(victim)
        if not keep:
            self.running.remove(victim)

    def restore(self, victim: Job) -> None:
        self.book.charge(victim.spec, victim.flavor)
        self.shares.add(victim.spec)
        self.fit.evict(victim, sign=-1)
