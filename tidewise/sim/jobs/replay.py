"""The twin for training jobs: arrivals, admission passes, runs, restarts, a node pool.

Event-driven: job arrivals and completions, nodes becoming Ready, spot interruptions and
idle checks are events; every ``pass_period_s`` after something changed the queue policy
takes a pass over a snapshot (as Kueue reconciles) and its plan is applied.

* Fixed pool: ``gpus / 8`` on-demand 8-GPU nodes for the whole replay.
* Elastic pool: no node at first. After each pass, workers that quota admits but no node
  can host are bought from the capacity layer's planner (``plan_launches``): spot for
  checkpointable jobs, on-demand for the others, never beyond ``gpus`` GPUs in all; a node
  idle for ``idle_s`` is released, down to zero. A spot node is interrupted at the
  offering's rate (exponential times, seeded); its jobs go back to the queue.

Work is in seconds of run time. A start costs ``restart_s``, plus ``cold_read_s`` when the
job reads a dataset that none of its nodes caches (a node caches a dataset once a job read
it there, Fluid-like, until the node goes). An evicted checkpointable job keeps the work up
to its last checkpoint (one every ``checkpoint_s`` of run time); any other job loses all.

Each pass gets run-time estimates (``QueueSnapshot.remaining_s``): the trace's run time,
as a user's limit would give it, times ``1 + overestimate * u`` with ``u`` in [0, 1) drawn
per job from its name (users overestimate; Mu'alem & Feitelson 2001). A waiting job's
estimate counts its start-up (not a cold read: the policy cannot know it); a running job's
is the time to its estimated end.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np

from tidewise.capacity.provisioning import absorb_into_launching, plan_launches
from tidewise.model import (
    MILLI_PER_GPU,
    Bind,
    Job,
    JobPhase,
    Node,
    NodeState,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
)
from tidewise.placement import with_pod
from tidewise.queue import QueuePolicy, QueueSnapshot, WaitKind
from tidewise.sim.jobs.trace import TraceJob

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PoolSettings:
    gpus: int
    on_demand: Offering
    spot: Offering | None = None
    elastic: bool = False
    boot_s: float = 300.0
    idle_s: float = 600.0
    pass_period_s: float = 10.0
    restart_s: float = 60.0
    cold_read_s: float = 600.0
    checkpoint_s: float = 1800.0
    starvation_s: float = 24 * 3600.0
    interruptions_per_hour: float | None = None  # None: the spot offering's own rate
    overestimate: float = 0.0  # run-time estimates are the run time x (1 + this x U[0, 1))


class _Event(IntEnum):  # at equal times: free resources before taking them
    FINISH = 0
    INTERRUPT = 1
    READY = 2
    IDLE = 3
    ARRIVE = 4
    PASS = 5


@dataclass
class _Run:
    """One job's life in the twin (mutable: the twin is the adapter, not a policy)."""

    trace: TraceJob
    phase: JobPhase = JobPhase.QUEUING
    saved_s: float = 0.0  # work kept by checkpoints
    started_s: float = 0.0  # this attempt's start
    startup_s: float = 0.0
    first_start_s: float | None = None
    finished_s: float | None = None
    generation: int = 0
    restarts: int = 0
    lost_gpu_s: float = 0.0
    flavor: str | None = None
    borrowing: bool = False
    binds: tuple[Bind, ...] = ()

    def job(self) -> Job:
        return Job(
            self.trace.spec,
            self.phase,
            self.trace.arrival_s,
            admitted_s=self.started_s if self.binds else None,
            flavor=self.flavor,
            borrowing=self.borrowing,
            binds=self.binds,
        )


@dataclass
class _Node:
    node: Node
    removed_s: float | None = None
    idle_since: float | None = None
    cached: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One policy on one pool: the benchmark's JSON fields, and the detail behind them."""

    policy: str
    jobs: int
    avg_jct_s: float
    avg_wait_s: float
    p95_wait_s: float
    gpu_utilization: float
    gpu_hours: float
    cost_usd: float
    starved_jobs: int
    max_wait_s: float
    restarts: int
    lost_gpu_hours: float
    interruptions: int
    node_launches: int
    makespan_s: float

    def summary(self) -> dict[str, object]:
        """Exactly the fields of ``tidewise bench queue --json`` per policy."""
        return {
            "policy": self.policy,
            "jobs": self.jobs,
            "avg_jct_s": round(self.avg_jct_s, 1),
            "avg_wait_s": round(self.avg_wait_s, 1),
            "p95_wait_s": round(self.p95_wait_s, 1),
            "gpu_utilization": round(self.gpu_utilization, 4),
            "gpu_hours": round(self.gpu_hours, 2),
            "cost_usd": round(self.cost_usd, 2),
            "starved_jobs": self.starved_jobs,
        }


class JobReplay:
    def __init__(
        self,
        trace: Sequence[TraceJob],
        policy: QueuePolicy,
        pool: PoolSettings,
        name: str,
        seed: int = 0,
    ) -> None:
        self.policy = policy
        self.pool = pool
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.runs = {t.spec.name: _Run(t) for t in trace}
        self.nodes: dict[str, _Node] = {}
        self.events: list[tuple[float, int, int, str, int]] = []
        self.seq = 0
        self.now = 0.0
        self.pass_at: float | None = None
        self.launches = 0
        self.interruptions = 0
        self.queued_gpu_s = 0.0  # GPU-seconds up while a job waited
        self.queued_busy_s = 0.0  # of which allocated
        self.queued = 0  # jobs arrived and waiting for admission
        for t in trace:
            self.push(t.arrival_s, _Event.ARRIVE, t.spec.name)
        if not pool.elastic:
            for _ in range(pool.gpus // pool.on_demand.instance_type.gpu_count):
                self.launch(pool.on_demand, ready_now=True)

    # events ------------------------------------------------------------------------------

    def push(self, time_s: float, kind: _Event, key: str, generation: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (time_s, int(kind), self.seq, key, generation))

    def run(self) -> ReplayResult:
        while self.events:
            time_s, kind, _, key, generation = heapq.heappop(self.events)
            if kind == _Event.INTERRUPT and self.nodes[key].removed_s is not None:
                continue  # the node went first: the event never happens
            self.account(time_s)
            self.now = time_s
            self.handle(_Event(kind), key, generation)
            if kind != _Event.PASS and self.pass_at is None:
                self.pass_at = math.ceil(time_s / self.pool.pass_period_s) * self.pool.pass_period_s
                self.push(self.pass_at, _Event.PASS, "")
        return self.result()

    def handle(self, kind: _Event, key: str, generation: int) -> None:
        if kind is _Event.ARRIVE:
            self.queued += 1
        elif kind is _Event.PASS:
            self.pass_at = None
            self.admission_pass()
        elif kind is _Event.FINISH:
            run = self.runs[key]
            if run.generation == generation and run.phase is JobPhase.RUNNING:
                self.release(run)
                run.phase = JobPhase.SUCCEEDED
                run.finished_s = self.now
        elif kind is _Event.READY:
            entry = self.nodes[key]
            entry.node = replace(entry.node, state=NodeState.READY, ready_s=self.now)
            self.mark_idle(entry)
        elif kind is _Event.INTERRUPT:
            entry = self.nodes[key]
            if entry.removed_s is None:
                self.interruptions += 1
                for run in self.runs_on(key):
                    self.evict(run)
                entry.removed_s = self.now
        elif kind is _Event.IDLE:
            entry = self.nodes[key]
            idle = entry.idle_since
            if entry.removed_s is None and idle is not None and self.now - idle >= self.pool.idle_s:
                entry.removed_s = self.now

    def account(self, until_s: float) -> None:
        """GPU use over [now, until): counted while some job waits for admission."""
        dt = until_s - self.now
        if dt <= 0 or not self.queued:
            return
        up = [e.node for e in self.nodes.values() if e.removed_s is None and e.node.schedulable]
        total = sum(n.capacity.gpu_count for n in up) * MILLI_PER_GPU
        free = sum(sum(n.gpu_free_milli) for n in up)
        self.queued_gpu_s += total * dt / MILLI_PER_GPU
        self.queued_busy_s += (total - free) * dt / MILLI_PER_GPU

    # the pass ----------------------------------------------------------------------------

    def admission_pass(self) -> None:
        arrived = [
            r for r in self.runs.values() if r.trace.arrival_s <= self.now and not r.phase.finished
        ]
        up = tuple(
            e.node for e in self.nodes.values() if e.removed_s is None and e.node.schedulable
        )
        cached: dict[str, set[str]] = {}
        for name, entry in self.nodes.items():
            if entry.removed_s is None:
                for dataset in entry.cached:
                    cached.setdefault(dataset, set()).add(name)
        snapshot = QueueSnapshot(
            self.now,
            up,
            tuple(r.job() for r in arrived),
            {d: frozenset(n) for d, n in cached.items()},
            {r.trace.spec.name: self.estimate(r) for r in arrived},
        )
        plan = self.policy.plan(snapshot, self.rng)
        for preempt in plan.preempt:
            self.evict(self.runs[preempt.job])
        for admit in plan.admit:
            self.start(self.runs[admit.job], admit.flavor, admit.borrowing, admit.binds)
        if self.pool.elastic:
            unplaced = [
                self.runs[w.job]
                for w in plan.waiting
                if w.kind in (WaitKind.NO_FIT, WaitKind.RESERVED)
            ]
            self.grow(unplaced)

    def estimate(self, run: _Run) -> float:
        """Seconds the run is estimated to hold its GPUs from now (see the module's doc)."""
        name = run.trace.spec.name
        u = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest()) / 2**32
        left = (run.trace.duration_s - run.saved_s) * (1 + self.pool.overestimate * u)
        if run.phase is JobPhase.RUNNING:
            return max(0.0, run.started_s + run.startup_s + left - self.now)
        return self.pool.restart_s + left

    def start(
        self, run: _Run, flavor: str | None, borrowing: bool, binds: tuple[Bind, ...]
    ) -> None:
        spec = run.trace.spec
        for bind in binds:
            entry = self.nodes[bind.node]
            entry.node = with_pod(entry.node, spec.worker, bind.gpu_indices)
            entry.idle_since = None
        dataset = spec.dataset
        cold = dataset is not None and not any(dataset in self.nodes[b.node].cached for b in binds)
        if dataset is not None:
            for bind in binds:
                self.nodes[bind.node].cached.add(dataset)
        run.phase = JobPhase.RUNNING
        self.queued -= 1
        run.binds, run.flavor, run.borrowing = binds, flavor, borrowing
        run.started_s = self.now
        run.startup_s = self.pool.restart_s + (self.pool.cold_read_s if cold else 0.0)
        if run.first_start_s is None:
            run.first_start_s = self.now
        left = run.trace.duration_s - run.saved_s
        self.push(self.now + run.startup_s + left, _Event.FINISH, spec.name, run.generation)

    def release(self, run: _Run) -> None:
        for bind in run.binds:
            entry = self.nodes[bind.node]
            entry.node = with_pod(entry.node, run.trace.spec.worker, bind.gpu_indices, sign=-1)
            self.mark_idle(entry)
        run.binds = ()

    def evict(self, run: _Run) -> None:
        """Back to the queue, keeping the work up to the last checkpoint."""
        worked = max(0.0, self.now - run.started_s - run.startup_s)
        kept = 0.0
        if run.trace.spec.checkpointable:
            interval = self.pool.checkpoint_s
            kept = run.saved_s + math.floor(worked / interval) * interval
        run.lost_gpu_s += (run.saved_s + worked - kept) * run.trace.spec.gpus
        run.saved_s = kept
        self.release(run)
        run.phase = JobPhase.QUEUING
        self.queued += 1
        run.generation += 1
        run.restarts += 1

    def runs_on(self, node: str) -> list[_Run]:
        return [r for r in self.runs.values() if any(b.node == node for b in r.binds)]

    def mark_idle(self, entry: _Node) -> None:
        if entry.node.pod_count == 0 and entry.node.schedulable:
            entry.idle_since = self.now
            if self.pool.elastic:
                self.push(self.now + self.pool.idle_s, _Event.IDLE, entry.node.name)

    # the elastic pool --------------------------------------------------------------------

    def launch(self, offering: Offering, ready_now: bool = False) -> None:
        self.launches += 1
        name = f"{offering.instance_type.name}-{offering.option.value}-{self.launches}"
        capacity = offering.instance_type.capacity
        node = Node(
            name=name,
            offering=offering,
            capacity=capacity,
            state=NodeState.READY if ready_now else NodeState.LAUNCHING,
            launched_s=self.now,
            ready_s=self.now if ready_now else None,
        )
        self.nodes[name] = _Node(node, idle_since=self.now)
        if not ready_now:
            self.push(self.now + self.pool.boot_s, _Event.READY, name)
        if offering.option is PurchaseOption.SPOT:
            rate = self.pool.interruptions_per_hour
            rate = offering.interruptions_per_hour if rate is None else rate
            if rate > 0:
                after = self.rng.exponential(SECONDS_PER_HOUR / rate)
                self.push(self.now + after, _Event.INTERRUPT, name)

    def grow(self, unplaced: Sequence[_Run]) -> None:
        """Buy nodes for workers no node can host, within the pool's GPU limit."""
        live = [e.node for e in self.nodes.values() if e.removed_s is None]
        room = self.pool.gpus - sum(n.capacity.gpu_count for n in live)
        for offering, runs in self.by_offering(unplaced).items():
            pods = [
                Pod(name, r.trace.spec.name, r.trace.spec.worker, PodPhase.PENDING, self.now)
                for r in runs
                for name in r.trace.spec.pod_names()
            ]
            booting = [n for n in live if n.offering.option is offering.option]
            left = absorb_into_launching(pods, booting)
            if not left:
                continue
            launches, _ = plan_launches([p.requests for p in left], [offering])
            for launch in launches:
                for _ in range(launch.count):
                    if room < offering.instance_type.gpu_count:
                        return
                    room -= offering.instance_type.gpu_count
                    self.launch(offering)

    def by_offering(self, runs: Sequence[_Run]) -> dict[Offering, list[_Run]]:
        spot = self.pool.spot
        grouped: dict[Offering, list[_Run]] = {}
        for run in runs:
            checkpoints = run.trace.spec.checkpointable
            offering = spot if spot is not None and checkpoints else self.pool.on_demand
            grouped.setdefault(offering, []).append(run)
        return grouped

    # results -----------------------------------------------------------------------------

    def result(self) -> ReplayResult:
        end = self.now
        finished = [
            (r.finished_s, r.trace.arrival_s)
            for r in self.runs.values()
            if r.finished_s is not None
        ]
        jct = (
            np.array([end_s - arrival_s for end_s, arrival_s in finished])
            if finished
            else np.zeros(1)
        )
        waits = np.array(
            [
                (r.first_start_s if r.first_start_s is not None else end) - r.trace.arrival_s
                for r in self.runs.values()
            ]
        )
        gpu_s = 0.0
        cost = 0.0
        for entry in self.nodes.values():
            node = entry.node
            until = end if entry.removed_s is None else entry.removed_s
            hours = max(until - node.launched_s, node.offering.billing.minimum_s) / SECONDS_PER_HOUR
            gpu_s += node.capacity.gpu_count * hours * SECONDS_PER_HOUR
            cost += node.offering.price_per_hour * hours
        unfinished = len(self.runs) - len(finished)
        return ReplayResult(
            policy=self.name,
            jobs=len(finished),
            avg_jct_s=float(jct.mean()),
            avg_wait_s=float(waits.mean()),
            p95_wait_s=float(np.percentile(waits, 95)),
            gpu_utilization=self.queued_busy_s / self.queued_gpu_s if self.queued_gpu_s else 0.0,
            gpu_hours=gpu_s / SECONDS_PER_HOUR,
            cost_usd=cost,
            starved_jobs=int((waits > self.pool.starvation_s).sum()) + unfinished,
            max_wait_s=float(waits.max()),
            restarts=sum(r.restarts for r in self.runs.values()),
            lost_gpu_hours=sum(r.lost_gpu_s for r in self.runs.values()) / SECONDS_PER_HOUR,
            interruptions=self.interruptions,
            node_launches=self.launches,
            makespan_s=end,
        )
