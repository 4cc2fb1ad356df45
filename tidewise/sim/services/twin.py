"""The digital twin: one replay of demand under one pair of policies.

Discrete events on simulated seconds. Controllers tick at their real periods (HPA 15 s,
node autoscaler 10 s); the cloud boots, bills and reclaims; pods start after their start-up
time; the scheduler binds whenever something changed. Between events nothing changes, so
service and cost are integrated exactly between them.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from tidewise.model import (
    GUARANTEED,
    Bind,
    ClusterView,
    Controller,
    Decision,
    Drain,
    Launch,
    Node,
    NodeState,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
    ScaleTo,
    WorkloadSpec,
    WorkloadStatus,
)
from tidewise.model.results import PURCHASE_OPTIONS, RunResult, TimeSeries, WorkloadResult
from tidewise.placement import with_pod
from tidewise.placement.scheduler import GpuShareScheduler, default_policy, fragment_pct
from tidewise.sim.services.cloud import CloudSettings, Instance, PriceOf, SimCloud
from tidewise.sim.services.ledger import CostLedger, CostRates, ServiceLedger

MINUTE_S = 60.0
FRAGMENT_EVERY_MINUTES = 15  # how often GPU fragmentation is sampled for the report
ICE_CACHE_S = 45.0  # how long a failed spot pool is avoided (Karpenter's ICE cache)
BOOTSTRAP_ROUNDS = 10
TAINT_EVICTION_S = 300.0
"""Pods leave a NotReady node after this long: the default ``tolerationSeconds`` of the
``node.kubernetes.io/not-ready`` / ``unreachable`` taints (taint-based eviction)."""


class Event(IntEnum):
    MINUTE = 0
    TICK = 1
    NODE_READY = 2
    POD_READY = 3
    NOTICE = 4
    RECLAIM = 5
    TERM_END = 6
    NODE_FAIL = 7
    TAINT_EVICT = 8


@dataclass(frozen=True)
class TwinSetup:
    """Everything a replay needs besides the policies; shared by all runs of a scenario."""

    horizon_s: float
    start_unix_s: float
    workloads: tuple[WorkloadSpec, ...]
    demand_rps: np.ndarray  # workloads x minutes
    offerings: tuple[Offering, ...]
    cloud: CloudSettings
    price_of: PriceOf
    on_demand_price_of: Callable[[Offering], float]
    utc_offset_s: float = 0.0  # the scenario's clock, for the report


@dataclass(slots=True)
class _Span:
    """A stretch of time in one minute with no change: accrued at once when it ends."""

    state: tuple[int, ...]
    minute: int
    capacity_rps: np.ndarray
    rates: CostRates
    live_nodes: tuple[tuple[PurchaseOption, int], ...]
    seconds: float = 0.0


class Twin:
    def __init__(
        self,
        setup: TwinSetup,
        controllers: Sequence[Controller],
        rng: np.random.Generator,
        observer: Callable[[Twin], None] | None = None,
    ) -> None:
        self.setup = setup
        self.observer = observer  # looks at the cluster each minute (a batch load's layer)
        self.controllers = list(controllers)
        self.scheduler = GpuShareScheduler(default_policy)
        self.gpu_fragment_pct: list[float] = []
        self.gpu_fragment_sampled = False
        self._placement_rng = rng.spawn(1)[0]
        self.minutes = setup.demand_rps.shape[1]
        self.costs = CostLedger(self.minutes)
        self.service = ServiceLedger(setup.demand_rps)
        self.cloud = SimCloud(
            setup.cloud, setup.horizon_s, rng, self.costs, setup.price_of, setup.on_demand_price_of
        )
        self.now = 0.0
        self.minute = 0
        self.nodes: dict[str, Node] = {}
        self.instances: dict[str, Instance] = {}
        self.pods: dict[str, Pod] = {}
        self.pods_on_node: dict[str, set[str]] = {}
        self.members: list[dict[str, None]] = [{} for _ in setup.workloads]
        self.index = {w.name: i for i, w in enumerate(setup.workloads)}
        self._rps_per_replica = np.array([w.rps_per_replica for w in setup.workloads])
        self.desired = [w.min_replicas for w in setup.workloads]  # as the Deployment is created
        self.ready = [0] * len(setup.workloads)
        self.starting = [0] * len(setup.workloads)
        self.peak_ready = [0] * len(setup.workloads)
        self.pending: dict[str, None] = {}
        self.unavailable: dict[str, float] = {}
        self.interruptions = 0
        self.evictions = 0
        # evicted pods of each workload not yet running again elsewhere
        self.owed = [0] * len(setup.workloads)
        self.live_nodes: Counter[PurchaseOption] = Counter()
        self.node_seconds: defaultdict[PurchaseOption, float] = defaultdict(float)
        self.reserved_terms: dict[str, Instance] = {}
        self._heap: list[tuple[float, int, Event, object]] = []
        self._seq = 0
        self._pod_count = 0
        self._version = 0
        self._snapshot: tuple[int, tuple[Node, ...], tuple[Pod, ...]] = (-1, (), ())
        self._statuses: tuple[Hashable, tuple[WorkloadStatus, ...]] = (None, ())
        self._instant = False
        self._placeable = False  # something changed that may let a pending pod fit
        self._span = _Span((), 0, np.zeros(0), CostRates((), 0.0, 0), ())
        # per controller: its ``rests`` (None: it has none) and the cluster it last decided
        # nothing on (None: it decided something, or has not decided yet)
        self._rests: list[Callable[[float], bool] | None] = [
            getattr(c, "rests", None) for c in self.controllers
        ]
        self._quiet: list[Hashable] = [None] * len(self.controllers)
        self._periods = [c.period_s for c in self.controllers]

    # -- running -------------------------------------------------------------------------

    def run(self, policy: str, progress: Callable[[float], None] | None = None) -> RunResult:
        started = time.perf_counter()
        self._bootstrap()
        horizon = self.setup.horizon_s
        self._push(MINUTE_S, Event.MINUTE, None)
        for i, period in enumerate(self._periods):
            if period is not None:
                self._push(period, Event.TICK, i)
        handlers = {
            Event.MINUTE: self._on_minute,
            Event.TICK: self._on_tick,
            Event.NODE_READY: self._on_node_ready,
            Event.POD_READY: self._on_pod_ready,
            Event.NOTICE: self._on_notice,
            Event.RECLAIM: self._on_reclaim,
            Event.TERM_END: self._on_term_end,
            Event.NODE_FAIL: self._on_node_fail,
            Event.TAINT_EVICT: self._on_taint_evict,
        }
        while self._heap and self._heap[0][0] < horizon:
            t, _, kind, arg = heapq.heappop(self._heap)
            self._advance(t)
            handlers[kind](arg)
            if self.pending and self._placeable:
                self._schedule()
            if progress is not None and kind is Event.MINUTE and self.minute % 60 == 0:
                progress(self.now / horizon)
        self._advance(horizon)
        self._close_span()
        for instance in list(self.instances.values()):
            self.cloud.release(instance, horizon, self.minutes - 1)
        return self._result(policy, time.perf_counter() - started)

    def _bootstrap(self) -> None:
        """Set the cluster up at t=0 as the policies want it, already running and Ready.

        Every policy starts warm, so the replay compares steady behaviour, not a cold start.
        """
        self._instant = True
        for i in range(len(self.setup.workloads)):
            self._reconcile(i)  # the Deployments' own replicas
        for _ in range(BOOTSTRAP_ROUNDS):
            acted = False
            for controller in self.controllers:
                decisions = controller.decide(self.view())
                acted = acted or bool(decisions)
                self.apply(decisions)
                self._schedule()
            if not acted:
                break
        self._instant = False

    def _push(self, t: float, kind: Event, arg: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, arg))

    def _advance(self, t: float) -> None:
        """Time passes to ``t``. Service and cost accrue per span of unchanged state (no pod,
        node, rate or minute changed): most events, a controller tick that decides nothing,
        change nothing, and accruing at each would cost a pass over every workload."""
        dt = t - self.now
        if dt > 0:
            state = (self._version, self.costs.changes, self.minute)
            if state != self._span.state:
                self._close_span()
                self._span = _Span(
                    state,
                    self.minute,
                    np.array(self.ready) * self._rps_per_replica,
                    self.costs.rates(),
                    tuple(self.live_nodes.items()),
                )
            self._span.seconds += dt
            self.now = t

    def _close_span(self) -> None:
        span = self._span
        if span.seconds > 0:
            self.service.accrue(span.minute, span.seconds, span.capacity_rps)
            self.costs.accrue(span.minute, span.seconds, span.rates)
            for option, count in span.live_nodes:
                self.node_seconds[option] += count * span.seconds
            span.seconds = 0.0

    # -- events --------------------------------------------------------------------------

    def _on_minute(self, _: object) -> None:
        if self.minute % FRAGMENT_EVERY_MINUTES == 0:
            live = [n for n in self.nodes.values() if n.state is not NodeState.LAUNCHING]
            sample = fragment_pct(live, self.scheduler.seen)
            self.gpu_fragment_pct.append(0.0 if sample is None else sample)
            self.gpu_fragment_sampled |= sample is not None
        self.minute += 1
        if self.minute < self.minutes:
            self._push(self.now + MINUTE_S, Event.MINUTE, None)
            if self.observer is not None:
                self.observer(self)

    def _on_tick(self, i: object) -> None:
        """The controller decides on the view, unless it rests (:class:`Resting`): the
        cluster is as it was when it last decided nothing, and it says its tick would
        change nothing."""
        assert isinstance(i, int)
        controller = self.controllers[i]
        rests = self._rests[i]
        if rests is None:
            self.apply(controller.decide(self.view()))
        else:
            seen = self._cluster_state()
            if self._quiet[i] != seen or not rests(self.now):
                decisions = controller.decide(self.view())
                self._quiet[i] = None if decisions else seen
                self.apply(decisions)
        period = self._periods[i]
        assert period is not None
        self._push(self.now + period, Event.TICK, i)

    def _on_node_ready(self, name: object) -> None:
        node = self.nodes.get(str(name))
        if node is not None and node.state is NodeState.LAUNCHING:
            self._put_node(replace(node, state=NodeState.READY, ready_s=self.now))
            self._placeable = True

    def _on_pod_ready(self, name: object) -> None:
        pod = self.pods.get(str(name))
        if (
            pod is not None
            and pod.phase is PodPhase.STARTING
            and pod.node is not None
            and self.nodes[pod.node].state is not NodeState.NOT_READY
        ):
            self._set_phase(pod, PodPhase.RUNNING)
            i = self.index[pod.workload]
            self.owed[i] = max(self.owed[i] - 1, 0)

    def _on_notice(self, name: object) -> None:
        node = self.nodes.get(str(name))
        if node is None:
            return
        self.interruptions += 1
        self._put_node(replace(node, state=NodeState.CORDONED, notice_s=self.now))
        self._push(self.now + node.offering.notice_s, Event.RECLAIM, node.name)

    def _on_reclaim(self, name: object) -> None:
        if str(name) in self.nodes:
            self._release_node(str(name))

    def _on_node_fail(self, name: object) -> None:
        """The node stops answering: its pods stop serving now and are evicted once the
        not-ready taint's toleration runs out; the VM stays, billed, until someone gives it
        back."""
        node = self.nodes.get(str(name))
        if node is None:
            return
        self._put_node(replace(node, state=NodeState.NOT_READY, failed_s=self.now))
        for pod_name in sorted(self.pods_on_node[node.name]):
            self._set_phase(self.pods[pod_name], PodPhase.STARTING)
        self._push(self.now + TAINT_EVICTION_S, Event.TAINT_EVICT, node.name)

    def _on_taint_evict(self, name: object) -> None:
        if str(name) in self.nodes:
            self._evict_all(str(name))

    def _on_term_end(self, name: object) -> None:
        self.cloud.term_end(self.reserved_terms.pop(str(name)))

    # -- the view and the decisions ------------------------------------------------------

    def view(self) -> ClusterView:
        if self._snapshot[0] != self._version:
            self._snapshot = (self._version, tuple(self.nodes.values()), tuple(self.pods.values()))
        _, nodes, pods = self._snapshot
        now = self.now
        unavailable = frozenset(k for k, until in self.unavailable.items() if until > now)
        return ClusterView(
            now, nodes, pods, self._workload_statuses(), self.setup.offerings, unavailable
        )

    def _cluster_state(self) -> Hashable:
        """What a view holds besides time and demand: the pods, nodes and desired replicas
        (their version) and the offerings unavailable now."""
        if not self.unavailable:
            return self._version
        now = self.now
        return self._version, frozenset(k for k, until in self.unavailable.items() if until > now)

    def _workload_statuses(self) -> tuple[WorkloadStatus, ...]:
        """The workloads' statuses, built again only when a count or the minute's demand
        changed: most controller ticks see the same ones (the pods' version counts every
        change of ready, starting and pending; ``desired`` is compared as it is)."""
        minute = min(self.minute, self.minutes - 1)
        key = (self._version, minute, tuple(self.desired))
        if self._statuses[0] != key:
            demand = self.setup.demand_rps[:, minute].tolist()
            statuses = tuple(
                WorkloadStatus(
                    spec=spec,
                    desired=self.desired[i],
                    ready=self.ready[i],
                    starting=self.starting[i],
                    pending=len(self.members[i]) - self.ready[i] - self.starting[i],
                    demand_rps=demand[i],
                )
                for i, spec in enumerate(self.setup.workloads)
            )
            self._statuses = (key, statuses)
        return self._statuses[1]

    def apply(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            match decision:
                case ScaleTo(workload, replicas):
                    i = self.index[workload]
                    if self.desired[i] != replicas:
                        self.desired[i] = replicas
                        self._version += 1
                    self._reconcile(i)
                case Launch(offering, count, size):
                    for _ in range(count):
                        self._launch(offering, size)
                case Drain(node, _):
                    if node in self.nodes:
                        self._release_node(node)
                case Bind(pod, node, gpus):
                    self._bind(self.pods[pod], node, gpus)

    def _launch(self, offering: Offering, size: Resources | None) -> None:
        instance = self.cloud.launch(offering, self.now, size, instant=self._instant)
        if instance is None:
            self.unavailable[offering.key] = self.now + ICE_CACHE_S
            return
        self.instances[instance.name] = instance
        shape = instance.size
        node = Node(
            name=instance.name,
            offering=offering,
            capacity=shape,
            state=NodeState.READY if self._instant else NodeState.LAUNCHING,
            launched_s=self.now,
            ready_s=self.now if self._instant else None,
        )
        self._put_node(node)
        self.pods_on_node[node.name] = set()
        self.live_nodes[offering.option] += 1
        if not self._instant and instance.ready_s < self.setup.horizon_s:
            self._push(instance.ready_s, Event.NODE_READY, node.name)
        if instance.reclaim_notice_s is not None:
            self._push(max(instance.reclaim_notice_s, instance.ready_s), Event.NOTICE, node.name)
        if instance.fail_s is not None:
            self._push(instance.fail_s, Event.NODE_FAIL, node.name)
        term_end = self.now + offering.term_s
        if offering.option is PurchaseOption.RESERVED and term_end < self.setup.horizon_s:
            self.reserved_terms[instance.name] = instance
            self._push(term_end, Event.TERM_END, instance.name)

    def _release_node(self, name: str) -> None:
        """The node goes away with its pods; their workloads recreate them as pending."""
        self._evict_all(name)
        del self.pods_on_node[name]
        self.live_nodes[self.nodes[name].offering.option] -= 1
        del self.nodes[name]
        self._version += 1
        self.cloud.release(self.instances.pop(name), self.now, min(self.minute, self.minutes - 1))

    def _evict_all(self, name: str) -> None:
        """Each pod on the node is an eviction, owed to its workload until a pod of that
        workload is running again; the workloads recreate them as pending."""
        touched = set()
        for pod_name in sorted(self.pods_on_node[name]):
            pod = self.pods[pod_name]
            i = self.index[pod.workload]
            touched.add(i)
            self.evictions += 1
            self.owed[i] += 1
            self._delete_pod(pod, release=True)
        for i in sorted(touched):
            self._reconcile(i)

    def _put_node(self, node: Node) -> None:
        self.nodes[node.name] = node
        self._version += 1

    # -- pods and workloads --------------------------------------------------------------

    def _reconcile(self, i: int) -> None:
        """A ReplicaSet: create or delete pods until the workload has ``desired`` of them.

        The on-demand base is its own group (as if a second ReplicaSet with a capacity-type
        node selector): ``rules.base(desired)`` pods pinned to guaranteed capacity, the rest
        free. Deletes unscheduled pods first, then starting ones, then running ones; within
        each, pods on serverless first (the ``controller.kubernetes.io/pod-deletion-cost`` a
        serverless burst sets lower), then the newest.
        """
        spec = self.setup.workloads[i]
        base = spec.rules.base(self.desired[i])
        pods = [self.pods[name] for name in self.members[i]]
        pinned = [p for p in pods if p.capacity_types is not None]
        free = [p for p in pods if p.capacity_types is None]
        self._resize(spec, pinned, base, GUARANTEED)
        self._resize(spec, free, self.desired[i] - base, None)

    def _resize(
        self,
        spec: WorkloadSpec,
        group: list[Pod],
        wanted: int,
        capacity_types: frozenset[PurchaseOption] | None,
    ) -> None:
        missing = wanted - len(group)
        if missing > 0:
            members = self.members[self.index[spec.name]]
            for _ in range(missing):
                self._pod_count += 1
                pod = Pod(
                    name=f"{spec.name}-{self._pod_count}",
                    workload=spec.name,
                    requests=spec.requests,
                    phase=PodPhase.PENDING,
                    created_s=self.now,
                    capacity_types=capacity_types,
                )
                self.pods[pod.name] = pod
                members[pod.name] = None
                self.pending[pod.name] = None
            self._version += 1
            self._placeable = True
        elif missing < 0:
            order = {PodPhase.PENDING: 0, PodPhase.STARTING: 1, PodPhase.RUNNING: 2}

            def cost(pod: Pod) -> tuple[int, bool]:
                node = self.nodes.get(pod.node or "")
                return order[pod.phase], not (node and _is_serverless(node))

            victims = sorted(reversed(group), key=cost)[:-missing]
            for pod in victims:
                self._delete_pod(pod, release=True)
                node = self.nodes.get(pod.node or "")
                if node and _is_serverless(node) and not node.pod_count:
                    self._release_node(node.name)  # a serverless container ends with its pod

    def _delete_pod(self, pod: Pod, release: bool) -> None:
        i = self.index[pod.workload]
        self._count_phase(i, pod.phase, -1)
        del self.pods[pod.name]
        del self.members[i][pod.name]
        self.pending.pop(pod.name, None)
        if pod.node is not None and release:
            self.pods_on_node[pod.node].discard(pod.name)
            self._put_node(with_pod(self.nodes[pod.node], pod.requests, pod.gpu_indices, -1))
            self._placeable = True
        self._version += 1

    def _bind(self, pod: Pod, node_name: str, gpus: tuple[int, ...]) -> None:
        node = self.nodes[node_name]
        self._put_node(with_pod(node, pod.requests, gpus))
        self.pods_on_node[node_name].add(pod.name)
        del self.pending[pod.name]
        bound = replace(pod, node=node_name, gpu_indices=gpus)
        self.pods[pod.name] = bound
        i = self.index[pod.workload]
        startup = self.setup.workloads[i].startup_s
        if self._instant:
            self._set_phase(bound, PodPhase.RUNNING)
        else:
            self._set_phase(bound, PodPhase.STARTING)
            self._push(self.now + startup, Event.POD_READY, pod.name)

    def _set_phase(self, pod: Pod, phase: PodPhase) -> None:
        i = self.index[pod.workload]
        self._count_phase(i, pod.phase, -1)
        self._count_phase(i, phase, +1)
        ready_s = self.now if phase is PodPhase.RUNNING else None
        self.pods[pod.name] = replace(pod, phase=phase, ready_s=ready_s)
        self._version += 1

    def _count_phase(self, i: int, phase: PodPhase, delta: int) -> None:
        if phase is PodPhase.RUNNING:
            self.ready[i] += delta
            self.peak_ready[i] = max(self.peak_ready[i], self.ready[i])
        elif phase is PodPhase.STARTING:
            self.starting[i] += delta

    def _schedule(self) -> None:
        """Bind pending pods, in creation order, with the GPU-share engine."""
        self._placeable = False
        nodes = [n for n in self.nodes.values() if n.schedulable]
        pending = [self.pods[name] for name in self.pending]
        for bind in self.scheduler.schedule(pending, nodes, self._placement_rng):
            self._bind(self.pods[bind.pod], bind.node, bind.gpu_indices)

    # -- the result ----------------------------------------------------------------------

    def _spot_share(self) -> float:
        """Of the VMs' node-hours: a serverless container is a pod's sandbox, not a node."""
        total = sum(s for o, s in self.node_seconds.items() if o is not PurchaseOption.SERVERLESS)
        return self.node_seconds[PurchaseOption.SPOT] / total if total else 0.0

    def _pods_lost(self) -> int:
        """Evicted pods still owed at the end and still wanted: a workload that scaled in
        meanwhile did not lose the pods it no longer asks for."""
        return sum(
            min(owed, max(self.desired[i] - self.ready[i], 0)) for i, owed in enumerate(self.owed)
        )

    def _result(self, policy: str, wall_s: float) -> RunResult:
        names = [w.name for w in self.setup.workloads]
        by_option = self.costs.totals()
        capacity = self.service.capacity_rps_s / MINUTE_S
        return RunResult(
            policy=policy,
            cost_usd=sum(by_option.values()),
            cost_by_option_usd=by_option,
            served_fraction=self.service.served_fraction(),
            violation_minutes=float(self.service.violation_minutes()),
            vcpu_hours=self.costs.vcpu_seconds / 3600,
            gpu_hours=self.costs.gpu_seconds / 3600,
            node_launches=self.cloud.launches,
            interruptions=self.interruptions,
            launch_failures=self.cloud.failures,
            spot_share=self._spot_share(),
            evictions=self.evictions,
            pods_lost=self._pods_lost(),
            workloads=[
                WorkloadResult(
                    name=name,
                    served_fraction=self.service.served_fraction(i),
                    violation_minutes=float(self.service.violation_minutes(i)),
                    peak_replicas=self.peak_ready[i],
                )
                for i, name in enumerate(names)
            ],
            wall_s=wall_s,
            timeseries=TimeSeries(
                step_s=MINUTE_S,
                start_unix_s=self.setup.start_unix_s,
                demand_rps={n: self.setup.demand_rps[i].tolist() for i, n in enumerate(names)},
                capacity_rps={n: capacity[i].tolist() for i, n in enumerate(names)},
                cost_usd={
                    opt: self.costs.per_minute[k].tolist() for k, opt in enumerate(PURCHASE_OPTIONS)
                },
                gpu_fragment_pct=self.gpu_fragment_pct if self.gpu_fragment_sampled else [],
                gpu_fragment_step_s=FRAGMENT_EVERY_MINUTES * MINUTE_S,
                utc_offset_s=self.setup.utc_offset_s,
            ),
        )


def _is_serverless(node: Node) -> bool:
    return node.offering.option is PurchaseOption.SERVERLESS
