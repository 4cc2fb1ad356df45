"""Batch work in the week twin: Spark-like executor pods next to the online services.

Two ways to run the same batch load (docs/colocation.md):

* ``no-colocation``: every executor pod on the batch's own nodes, bought for pending pods by
  the provisioning rules (``capacity.provisioning``: the cheapest set of on-demand nodes for
  what is pending, booting nodes counted first) and given back once empty;
* ``colocation``: first on the capacity online pods requested and left idle, as
  ``capacity.reclaim`` lends it per node (requests minus the peak of the node's online
  usage over a recent window, with a margin); evicted by the same rule's ``evictions`` when
  online usage rises, or when their node goes; what finds no lent room goes to own nodes.

The layer is stepped once a simulated minute with the online cluster as it is then
(:func:`online_nodes`); online usage comes from the scenario's usage model (CPU: request x
utilisation; memory: ``UsageSpec.memory_share``), a starting pod counted at its full
request. Batch pods ask only for batch resources on online nodes, so the online scheduler,
autoscalers and services see the same cluster with or without them; an online node is never
kept for its batch pods. Boot times come from a generator of the layer's own, so the online
replay draws what it draws without batch, and its figures are the no-batch run's.

An executor pod's work is its run time; an evicted pod keeps the work up to its last
checkpoint (every ``checkpoint_s`` of run time) if its job checkpoints, else none, and
waits again at the front of the queue (by arrival). The layer sees the cluster once a
minute, so a pod on a node that went between two looks loses that minute too, and a pod's
end frees its room at the next look.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tidewise.capacity.provisioning import absorb_into_launching, plan_launches
from tidewise.capacity.reclaim import BatchPod, ReclaimRule, evictions, reclaimable
from tidewise.model import (
    Node,
    NodeState,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)
from tidewise.model.results import BatchResult
from tidewise.placement import fit_on, with_pod
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES
from tidewise.sim.philly import PhillyError, PhillyRow, read_rows
from tidewise.sim.services.billing import instance_charge
from tidewise.sim.services.policies import POLICIES, TIDEWISE_NODES
from tidewise.sim.services.scenario import (
    BatchSpec,
    Scenario,
    ScenarioError,
    UsageSpec,
    resolve_path,
)
from tidewise.sim.services.twin import MINUTE_S, Twin, TwinSetup

COLOCATE = {"no-colocation": False, "colocation": True}
"""The policies that run a batch load, and whether each lends it online nodes first."""
BATCH_WORKLOAD = "batch"


@dataclass(frozen=True, slots=True)
class BatchTask:
    """One executor pod of a batch job: its size, when its job arrives, its run time."""

    job: str
    name: str
    requests: Resources
    arrival_s: float
    work_s: float
    checkpoint_s: float | None  # None: the job does not checkpoint

    @property
    def cores(self) -> float:
        return self.requests.cpu_milli / 1000


def online_policy(scenario: Scenario, name: str) -> str:
    """The policy whose controllers run the online services in a replay of ``name``."""
    if name in COLOCATE and scenario.batch is not None:
        return scenario.batch.online
    return name


def batch_load(scenario: Scenario, base: Path) -> tuple[BatchTask, ...]:
    """The batch load's pods, or none; a co-location policy without one is an error."""
    spec = scenario.batch
    if spec is not None and (spec.online not in POLICIES or spec.online in COLOCATE):
        known = ", ".join(p for p in POLICIES if p not in COLOCATE)
        raise ScenarioError(f"batch.online: unknown online policy {spec.online!r}; known: {known}")
    if spec is None:
        for i, name in enumerate(scenario.policies):
            if name in COLOCATE:
                raise ScenarioError(
                    f"policies[{i}]: {name} replays a batch load; add a batch: section "
                    "(docs/scenarios.md) or drop the policy"
                )
        return ()
    path = resolve_path(spec.trace, base)
    assert isinstance(path, Path)
    try:
        rows = read_rows(path, spec.start, spec.start + spec.arrivals, "batch.trace")
    except PhillyError as err:
        raise ScenarioError(str(err)) from None
    tasks = tuple(spark_like(rows, spec, scenario.seed))
    if not tasks:
        raise ScenarioError(
            "batch: no job of the trace fits in core_hours within the window; raise "
            "core_hours or move start"
        )
    return tasks


def batch_layer(
    scenario: Scenario, setup: TwinSetup, tasks: Sequence[BatchTask], name: str
) -> BatchLayer | None:
    """The batch layer of a co-location policy: own nodes bought on-demand by the
    ``tidewise`` policy's node settings, boot times from a generator of its own (so the
    online replay is the one without batch)."""
    spec = scenario.batch
    if name not in COLOCATE or spec is None:
        return None
    settings = BatchSettings(
        colocate=COLOCATE[name],
        rule=ReclaimRule(spec.reclaim.margin, spec.reclaim.evict_margin),
        lend_allocatable=spec.reclaim.lend == "allocatable",
        window_minutes=int(spec.reclaim.window // MINUTE_S),
        offerings=tuple(o for o in setup.offerings if o.option is PurchaseOption.ON_DEMAND),
        boot_s=setup.cloud.vm_boot_s,
        unneeded_s=TIDEWISE_NODES.unneeded_s,
        horizon_s=setup.horizon_s,
    )
    return BatchLayer(tasks, settings, np.random.default_rng([scenario.seed, 1]))


def spark_like(rows: Sequence[PhillyRow], spec: BatchSpec, seed: int) -> list[BatchTask]:
    """The executor pods of the jobs ``spec`` keeps of ``rows``, in arrival order.

    Rows are taken in a seeded order (a hash of seed and job id, the same on every machine)
    and each is kept while the offered core-hours stay within ``spec.core_hours``, so the
    kept jobs spread over the whole window. A job checkpoints if its hash says so for
    ``checkpoint_share`` of jobs.
    """
    requests = spec.executor.resources()
    kept: list[tuple[PhillyRow, int, float]] = []
    total = 0.0
    for row in sorted(rows, key=lambda r: _rank(r.job_id, seed)):
        pods = min(row.gpus * spec.executors_per_gpu, spec.max_executors)
        work = min(row.duration_s, spec.max_duration)
        core_hours = pods * requests.cpu_milli / 1000 * work / 3600
        if work > 0 and total + core_hours <= spec.core_hours:
            kept.append((row, pods, work))
            total += core_hours
    tasks = []
    for row, pods, work in sorted(kept, key=lambda k: (k[0].arrival_s, k[0].job_id)):
        checkpoints = _unit(row.job_id, seed + 1) < spec.checkpoint_share
        for i in range(pods):
            tasks.append(
                BatchTask(
                    job=f"job-{row.job_id}",
                    name=f"job-{row.job_id}-exec-{i}",
                    requests=requests,
                    arrival_s=row.arrival_s - spec.start,
                    work_s=work,
                    checkpoint_s=spec.checkpoint_every if checkpoints else None,
                )
            )
    return tasks


def _rank(job_id: int, seed: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{job_id}".encode(), digest_size=8).digest()


def _unit(job_id: int, seed: int) -> float:
    """A number in [0, 1) fixed by the job and the seed."""
    return int.from_bytes(_rank(job_id, seed), "big") / 2**64


@dataclass(frozen=True, slots=True)
class OnlineNode:
    """An online node as the batch layer sees it: what online pods request and use on it,
    and whether it lends (Ready, not cordoned, a VM rather than a serverless container)."""

    name: str
    capacity: Resources
    requested: Resources
    usage: Resources
    lends: bool


def online_nodes(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    utilization: dict[str, float],
    usage: dict[str, UsageSpec],
) -> list[OnlineNode]:
    """Each live online node with its pods' requests and usage: a running pod uses its CPU
    request times its workload's utilisation and memory by the usage model; a starting one
    its whole request (it is warming up, and nobody has measured it yet)."""
    requested: dict[str, list[float]] = {}
    for pod in pods:
        if pod.node is None:
            continue
        sums = requested.setdefault(pod.node, [0.0, 0.0, 0.0, 0.0])
        cpu, memory = pod.requests.cpu_milli, pod.requests.memory_mib
        sums[0] += cpu
        sums[1] += memory
        if pod.phase is PodPhase.RUNNING:
            util = utilization[pod.workload]
            sums[2] += cpu * util
            sums[3] += memory * usage[pod.workload].memory_share(util)
        else:
            sums[2] += cpu
            sums[3] += memory
    return [
        OnlineNode(
            name=node.name,
            capacity=node.capacity,
            requested=Resources(cpu_milli=int(s[0]), memory_mib=int(s[1])),
            usage=Resources(cpu_milli=math.ceil(s[2]), memory_mib=math.ceil(s[3])),
            lends=node.schedulable and node.offering.option is not PurchaseOption.SERVERLESS,
        )
        for node in nodes
        if node.state in (NodeState.READY, NodeState.CORDONED)
        for s in [requested.get(node.name, [0.0, 0.0, 0.0, 0.0])]
    ]


def observer(layer: BatchLayer, usage: dict[str, UsageSpec]) -> Callable[[Twin], None]:
    """What the twin calls each minute: the layer stepped with the online cluster of now."""

    def look(twin: Twin) -> None:
        setup = twin.setup
        minute = min(twin.minute, twin.minutes - 1)
        utilization = {}
        for i, spec in enumerate(setup.workloads):
            capacity = twin.ready[i] * spec.rps_per_replica
            demand = float(setup.demand_rps[i, minute])
            utilization[spec.name] = min(demand / capacity, 1.0) if capacity else 0.0
        nodes = online_nodes(
            list(twin.nodes.values()), list(twin.pods.values()), utilization, usage
        )
        layer.step(twin.now, nodes)

    return look


@dataclass(slots=True)
class _Running:
    task: BatchTask
    node: str
    shared: bool
    started_s: float
    done_s: float  # run time done before this start (kept from a checkpoint)
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchSettings:
    colocate: bool
    rule: ReclaimRule
    lend_allocatable: bool  # lend from the node's allocatable, not its online requests
    window_minutes: int
    offerings: tuple[Offering, ...]  # what own nodes are bought from
    boot_s: tuple[float, float]
    unneeded_s: float  # an empty own node goes after this long
    horizon_s: float


class BatchLayer:
    """The batch load's pods, own nodes and bill, stepped once a minute (module docstring)."""

    def __init__(
        self, tasks: Sequence[BatchTask], settings: BatchSettings, rng: np.random.Generator
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.tasks = list(tasks)
        self.arrived = 0
        self.queue: dict[str, tuple[BatchTask, float]] = {}  # name -> (task, work kept)
        self.running: dict[str, _Running] = {}
        self.own: dict[str, Node] = {}
        self.empty_since: dict[str, float] = {}
        self.peaks: dict[str, deque[Resources]] = {}
        self.now = 0.0
        self.done_s: dict[str, float] = {}  # completed pods: their work
        self.shared_core_s = 0.0
        self.lost_core_s = 0.0
        self.evicted = 0
        self.launches = 0
        self.cost_usd = 0.0
        self.contention = 0
        self._count = 0

    # -- one look at the cluster ---------------------------------------------------------

    def step(self, now: float, online: Sequence[OnlineNode]) -> None:
        self._advance(now, {n.name for n in online})
        self._remember(online)
        if self.settings.colocate:
            self._evict_for_online(online)
        self._arrive(now)
        self._tend_own_nodes(now)
        pending = sorted(self.queue.values(), key=lambda q: (q[0].arrival_s, q[0].name))
        if self.settings.colocate:
            pending = self._place_shared(pending, online)
        pending = self._place_own(pending)
        self._provision(pending)
        self._count_contention(online)

    def _advance(self, now: float, shared: Collection[str]) -> None:
        """Run every running pod to ``now``: it finishes, goes on, or lost its node."""
        dt = now - self.now
        self.now = now
        for name, run in list(self.running.items()):
            gone = run.shared and run.node not in shared
            if gone:
                self._evict(run)
                continue
            left = run.task.work_s - run.done_s
            ran = min(dt, left)
            if run.shared:
                self.shared_core_s += ran * run.task.cores
            run.done_s += ran
            if run.done_s >= run.task.work_s:
                self.done_s[name] = run.task.work_s
                self._unbind(run)

    def _remember(self, online: Sequence[OnlineNode]) -> None:
        for node in online:
            window = self.peaks.setdefault(node.name, deque(maxlen=self.settings.window_minutes))
            window.append(node.usage)
        for name in set(self.peaks) - {n.name for n in online}:
            del self.peaks[name]

    def _peak(self, name: str) -> Resources:
        window = self.peaks[name]
        return Resources(
            cpu_milli=max(u.cpu_milli for u in window),
            memory_mib=max(u.memory_mib for u in window),
        )

    def _allocatable(self, node: OnlineNode) -> Resources | None:
        return node.capacity if self.settings.lend_allocatable else None

    def _evict_for_online(self, online: Sequence[OnlineNode]) -> None:
        by_node = self._shared_by_node()
        for node in online:
            runs = by_node.get(node.name, [])
            if not runs:
                continue
            pods = [BatchPod(r.task.name, r.task.requests, r.started_s, _keeps(r)) for r in runs]
            rule, allocatable = self.settings.rule, self._allocatable(node)
            for pod in evictions(node.requested, node.usage, pods, rule, allocatable=allocatable):
                self._evict(self.running[pod.name])

    def _evict(self, run: _Running) -> None:
        kept = _checkpointed(run)
        self.lost_core_s += (run.done_s - kept) * run.task.cores
        self.evicted += 1
        self._unbind(run)
        self.queue[run.task.name] = (run.task, kept)

    def _unbind(self, run: _Running) -> None:
        del self.running[run.task.name]
        if not run.shared:
            node = self.own[run.node]
            self.own[run.node] = with_pod(node, run.task.requests, run.gpus, -1)

    def _arrive(self, now: float) -> None:
        while self.arrived < len(self.tasks) and self.tasks[self.arrived].arrival_s <= now:
            task = self.tasks[self.arrived]
            self.queue[task.name] = (task, 0.0)
            self.arrived += 1

    # -- placing -------------------------------------------------------------------------

    def _shared_by_node(self) -> dict[str, list[_Running]]:
        by_node: dict[str, list[_Running]] = {}
        for run in self.running.values():
            if run.shared:
                by_node.setdefault(run.node, []).append(run)
        return by_node

    def _place_shared(
        self, pending: list[tuple[BatchTask, float]], online: Sequence[OnlineNode]
    ) -> list[tuple[BatchTask, float]]:
        """First fit, in arrival order, on what each lending node lends beyond its batch."""
        by_node = self._shared_by_node()
        room: dict[str, list[int]] = {}
        for node in online:
            if not node.lends:
                continue
            peak, allocatable = self._peak(node.name), self._allocatable(node)
            lent = reclaimable(node.requested, peak, self.settings.rule, allocatable=allocatable)
            used = by_node.get(node.name, [])
            room[node.name] = [
                lent.cpu_milli - sum(r.task.requests.cpu_milli for r in used),
                lent.memory_mib - sum(r.task.requests.memory_mib for r in used),
            ]
        left = []
        for task, kept in pending:
            need = task.requests
            spot = None
            if not need.wants_gpu:
                spot = next(
                    (
                        n
                        for n, (cpu, mem) in room.items()
                        if need.cpu_milli <= cpu and need.memory_mib <= mem
                    ),
                    None,
                )
            if spot is None:
                left.append((task, kept))
                continue
            room[spot][0] -= need.cpu_milli
            room[spot][1] -= need.memory_mib
            self._start(task, kept, spot, shared=True)
        return left

    def _place_own(self, pending: list[tuple[BatchTask, float]]) -> list[tuple[BatchTask, float]]:
        left = []
        for task, kept in pending:
            for name, node in self.own.items():
                if node.state is not NodeState.READY:
                    continue
                gpus = fit_on(node, task.requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
                if gpus is not None:
                    self.own[name] = with_pod(node, task.requests, gpus)
                    self._start(task, kept, name, shared=False, gpus=gpus)
                    break
            else:
                left.append((task, kept))
        return left

    def _start(
        self,
        task: BatchTask,
        kept: float,
        node: str,
        shared: bool,
        gpus: tuple[int, ...] = (),
    ) -> None:
        del self.queue[task.name]
        self.running[task.name] = _Running(task, node, shared, self.now, kept, gpus)

    # -- own nodes -----------------------------------------------------------------------

    def _provision(self, pending: list[tuple[BatchTask, float]]) -> None:
        """Buy for what is still pending, less what booting nodes will take."""
        if not pending:
            return
        pods = [
            Pod(t.name, BATCH_WORKLOAD, t.requests, PodPhase.PENDING, t.arrival_s)
            for t, _ in pending
        ]
        left = absorb_into_launching(pods, list(self.own.values()))
        launches, _ = plan_launches([p.requests for p in left], self.settings.offerings)
        for launch in launches:
            for _ in range(launch.count):
                self._launch(launch.offering)

    def _launch(self, offering: Offering) -> None:
        self._count += 1
        self.launches += 1
        low, high = self.settings.boot_s
        boot = float(self.rng.uniform(low, high))
        name = f"batch-{offering.instance_type.name}-{self._count}"
        self.own[name] = Node(
            name=name,
            offering=offering,
            capacity=offering.instance_type.capacity,
            state=NodeState.LAUNCHING,
            launched_s=self.now,
            ready_s=self.now + boot,
        )

    def _tend_own_nodes(self, now: float) -> None:
        """Booted nodes become Ready; a node empty for ``unneeded_s`` is given back."""
        for name, node in list(self.own.items()):
            if node.state is NodeState.LAUNCHING:
                assert node.ready_s is not None
                if node.ready_s <= now:
                    self.own[name] = replace(node, state=NodeState.READY)
                continue
            if node.pod_count:
                self.empty_since.pop(name, None)
                continue
            since = self.empty_since.setdefault(name, now)
            if now - since >= self.settings.unneeded_s:
                self._release(name, now)

    def _release(self, name: str, now: float) -> None:
        node = self.own.pop(name)
        self.empty_since.pop(name, None)
        end = min(now, self.settings.horizon_s)
        offering = node.offering
        self.cost_usd += instance_charge(
            offering, node.launched_s, end, self.settings.horizon_s, offering.price_per_hour
        ).usd

    def _count_contention(self, online: Sequence[OnlineNode]) -> None:
        by_node = self._shared_by_node()
        for node in online:
            runs = by_node.get(node.name, [])
            cpu = node.usage.cpu_milli + sum(r.task.requests.cpu_milli for r in runs)
            memory = node.usage.memory_mib + sum(r.task.requests.memory_mib for r in runs)
            if runs and (cpu > node.capacity.cpu_milli or memory > node.capacity.memory_mib):
                self.contention += 1

    # -- the result ----------------------------------------------------------------------

    def finish(self) -> BatchResult:
        """Close the bills at the horizon and sum up."""
        horizon = self.settings.horizon_s
        self._advance(horizon, {r.node for r in self.running.values() if r.shared})
        for name in list(self.own):
            self._release(name, horizon)
        jobs: dict[str, bool] = {}
        for task in self.tasks:
            jobs[task.job] = jobs.get(task.job, True) and task.name in self.done_s
        by_name = {t.name: t for t in self.tasks}
        return BatchResult(
            jobs=len(jobs),
            jobs_completed=sum(jobs.values()),
            offered_core_hours=sum(t.cores * t.work_s for t in self.tasks) / 3600,
            done_core_hours=sum(by_name[n].cores * s for n, s in self.done_s.items()) / 3600,
            shared_core_hours=self.shared_core_s / 3600,
            evictions=self.evicted,
            lost_core_hours=self.lost_core_s / 3600,
            own_node_launches=self.launches,
            cost_usd=self.cost_usd,
            contention_node_minutes=self.contention,
        )


def _keeps(run: _Running) -> bool:
    return run.task.checkpoint_s is not None


def _checkpointed(run: _Running) -> float:
    """The run time an evicted pod keeps: up to its last checkpoint, or none."""
    every = run.task.checkpoint_s
    if every is None:
        return 0.0
    return math.floor(run.done_s / every + 1e-9) * every
