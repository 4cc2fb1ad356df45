"""The extender's books: which nodes exist and which pod holds what where; and its three
answers (filter, prioritize, the GPUs to bind on), all from the placement engine.

Why pure (no I/O, no clock): the watch feeds it what the API server says, bind tells it what
it just decided, and the same object answers the scheduler; keeping it free of I/O lets the
tests drive it exactly and keeps every answer consistent with the books.

The books are one :class:`GpuCluster` (free CPU, memory, per-GPU share and memory, as numpy
arrays), kept current row by row as pods come and go, and rebuilt from the records only when
the set of nodes changes. A pod's holding is recorded twice over: from the API (bound pods, with
their GPU indices from the annotations) and, while its bind is in flight, from the extender's
own decision; the first replaces the second once the watch sees the pod bound.

GPU reservations (:mod:`tidewise.kube.api.reservation`, read from the nodes by the watch)
hold GPUs the defragmenter freed for one pod: every other pod is filtered, scored and given
GPUs as if the reserved GPUs were taken; the pod they are held for sees them free. A
reservation stops counting once its pod is bound (anywhere) or past its expiry
(:meth:`GpuShareBook.expire_reservations`, given the wall clock by the watch).

Only pods bound to a node hold resources: a booking made by bind lives at most
:data:`ASSUME_TTL_S` unless the watch sees its pod bound. A bind that never completed (its
handler died between booking and Binding, the API server never answered) would otherwise hold
its GPUs for ever, the way gpushare's assumed pods did; a re-list keeps only the young bookings
of pods it still lists (their Binding may be on its way).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

from tidewise.kube.api.reservation import GpuReservation
from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import without_memory
from tidewise.placement.gpu_policies import GpuPolicy
from tidewise.placement.scheduler import PassPolicyFactory, default_policy

log = logging.getLogger(__name__)

MAX_PRIORITY = 10  # the extender protocol's MaxExtenderPriority
UNKNOWN_NODE = "node not yet known to the GPU-share extender"
CPU_OR_MEMORY_BUSY = "too little CPU or memory free"
ASSUME_TTL_S = 30.0
"""How long a booking may wait for the watch to see its pod bound: three times the binder's
own deadline (``binder.BIND_DEADLINE_S``), so a bind still running is never expired."""
CPU_PODS_ON_GPU_NODES = True
"""kube-scheduler, not the extender, keeps pods off nodes (taints); the books only count."""


@dataclass(frozen=True, slots=True)
class Holding:
    """What one pod holds on one node."""

    node: str
    requests: Resources
    gpus: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Filter's answer over the nodes asked about (names, in the order asked)."""

    passed: list[str]
    failed: dict[str, str]  # preemption might help
    unresolvable: dict[str, str]  # even an empty node would not do


class NoFit(Exception):
    """The pod does not fit the node it is to be bound to (any more)."""


class GpuShareBook:
    """Nodes, holdings and the engine over them; see the module docstring."""

    def __init__(self, factory: PassPolicyFactory = default_policy) -> None:
        self.factory = factory
        self.nodes: dict[str, tuple[Resources, str]] = {}  # name -> (capacity, creation time)
        self.holdings: dict[str, Holding] = {}  # pod uid -> what it holds
        # node name -> its HAMi register annotation as last listed or watched, read at bind
        # only (api.hami): a malformed one fails the binds to that node, never the books
        self.hami_registers: dict[str, str] = {}
        self.seen: Counter[Resources] = Counter()  # shapes of the GPU pods met, each pod once
        self._met: set[str] = set()
        self._cluster: GpuCluster | None = None
        self._names: list[str] = []  # the cluster's rows
        self._index: dict[str, int] = {}
        self._counted: set[str] = set()  # uids whose holding is in the cluster's arrays
        # booked by bind, not yet seen bound by the watch: uid -> when (seconds, caller's clock)
        self._in_flight: dict[str, float] = {}
        self.reservations: dict[str, GpuReservation] = {}  # node name -> its reservation
        self._rng = np.random.default_rng(0)  # the default policy draws nothing; protocol needs one

    # -- what the API server says -------------------------------------------------------------

    def put_node(self, name: str, capacity: Resources, created: str = "") -> None:
        if self.nodes.get(name) != (capacity, created):
            self.nodes[name] = (capacity, created)
            self._invalidate()

    def remove_node(self, name: str) -> None:
        self.hami_registers.pop(name, None)
        if self.nodes.pop(name, None) is not None:
            self._invalidate()

    def put_hami_register(self, name: str, text: str | None) -> None:
        """The node's HAMi register annotation, ``None`` when it has none."""
        if text is None:
            self.hami_registers.pop(name, None)
        else:
            self.hami_registers[name] = text

    def put_pod(self, uid: str, holding: Holding) -> None:
        """Record (or replace) what a bound pod holds; a no-op when nothing changed."""
        self.meet(uid, holding.requests)
        self._in_flight.pop(uid, None)
        if self.holdings.get(uid) == holding:
            return
        self.remove_pod(uid)
        self.holdings[uid] = holding
        if self._cluster is not None:
            self._count(uid, holding)

    def remove_pod(self, uid: str) -> None:
        holding = self.holdings.pop(uid, None)
        if holding is not None and self._cluster is not None and uid in self._counted:
            self._counted.discard(uid)
            self._cluster.release(self._index[holding.node], holding.requests, holding.gpus)

    def forget_pod(self, uid: str) -> None:
        """The pod is gone for good (deleted or finished), or its bind failed."""
        self.remove_pod(uid)
        self._met.discard(uid)
        self._in_flight.pop(uid, None)

    def replace_all(
        self,
        nodes: Iterable[tuple[str, Resources, str]],
        pods: Iterable[tuple[str, Holding]],
        *,
        listed: Collection[str],
        now: float,
    ) -> list[str]:
        """A fresh listing of (name, capacity, creation time) and of the bound pods' (uid,
        holding), ``listed`` the uids of every pod listed, bound or not. Everything else is
        forgotten but the bookings in flight younger than :data:`ASSUME_TTL_S` whose pod is
        listed (the listing may predate their Binding); the uids of the bookings dropped."""
        keep = {
            uid: (self.holdings[uid], at)
            for uid, at in self._in_flight.items()
            if uid in self.holdings and uid in listed and now - at <= ASSUME_TTL_S
        }
        dropped = sorted(set(self._in_flight) - set(keep))
        self.nodes = {name: (capacity, created) for name, capacity, created in nodes}
        self.holdings = {}
        self._in_flight = {}
        self._invalidate()
        for uid, holding in pods:
            self.meet(uid, holding.requests)
            self.holdings[uid] = holding
            keep.pop(uid, None)
        for uid, (holding, at) in keep.items():
            self.holdings[uid] = holding
            self._in_flight[uid] = at
        return dropped

    def reserve(self, node: str, reservation: GpuReservation | None) -> bool:
        """Record the node's reservation (``None``: it has none); whether that changed."""
        if self.reservations.get(node) == reservation:
            return False
        if reservation is None:
            del self.reservations[node]
        else:
            self.reservations[node] = reservation
        return True

    def expire_reservations(self, now: float) -> list[str]:
        """Forget the reservations expired at ``now`` (Unix seconds); their nodes."""
        old = [n for n, r in self.reservations.items() if r.expired(now)]
        for node in old:
            del self.reservations[node]
        return old

    def expire(self, now: float) -> list[str]:
        """Forget the bookings whose pod the watch has not seen bound within
        :data:`ASSUME_TTL_S`; their uids."""
        old = [uid for uid, at in self._in_flight.items() if now - at > ASSUME_TTL_S]
        for uid in old:
            self.forget_pod(uid)
        return old

    @property
    def in_flight(self) -> int:
        """Bookings made by bind that the watch has not yet seen bound."""
        return len(self._in_flight)

    @property
    def gpus_booked(self) -> float:
        """GPUs held on the books, bound pods' and bookings in flight, in GPUs."""
        return sum(h.requests.gpu_milli_total for h in self.holdings.values()) / MILLI_PER_GPU

    def meet(self, uid: str, shape: Resources) -> None:
        """Learn the workload: the default policy weighs fragmentation by the shapes met."""
        if uid not in self._met:
            self._met.add(uid)
            if shape.wants_gpu:
                self.seen[without_memory(shape)] += 1

    # -- the scheduler's questions ------------------------------------------------------------

    def filter(self, shape: Resources, names: list[str], uid: str = "") -> Verdict:
        """Which of the nodes can host the pod ``uid`` now, and why not the others.

        Why the reasons are worked out for all failing nodes at once: at 1,000 nodes half of
        them fail a typical GPU pod, and a reason built node by node cost more than the fit
        check itself (bench/extender_latency.py)."""
        cluster = self._view(uid)
        known, rows, ok = self._feasible(cluster, shape, names)
        failed = {n: UNKNOWN_NODE for n in names if n not in self._index}
        unresolvable: dict[str, str] = {}
        never = ~self._fits_empty(cluster, shape)[rows]
        short = (cluster.cpu_free[rows] < shape.cpu_milli) | (
            cluster.memory_free[rows] < shape.memory_mib
        )
        busy = (CPU_OR_MEMORY_BUSY, self._gpu_busy_reason(shape))
        for i in np.flatnonzero(~ok):
            if never[i]:
                unresolvable[known[i]] = self._never_reason(cluster, shape, int(rows[i]))
            else:
                failed[known[i]] = busy[0] if short[i] else busy[1]
        passed = [known[i] for i in np.flatnonzero(ok)]
        return Verdict(passed, failed, unresolvable)

    def _feasible(
        self, cluster: GpuCluster, shape: Resources, names: list[str]
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The names on the books, their rows, and whether the pod fits each now."""
        known = [n for n in names if n in self._index]
        rows = np.array([self._index[n] for n in known], dtype=np.int64)
        return known, rows, cluster.feasible(shape)[rows]

    def prioritize(self, shape: Resources, names: list[str], uid: str = "") -> dict[str, int]:
        """The engine's choice among the nodes gets the top score, every other node 0.

        Why all-or-nothing: kube-scheduler adds the extender's score (x weight x 10) to its own
        plugins' and picks the best total; a weight large enough (deploy/ sets 20) makes the
        engine's choice win while ties among the rest stay the scheduler's business.
        """
        scores = dict.fromkeys(names, 0)
        cluster = self._view(uid)
        known, _, ok = self._feasible(cluster, shape, names)
        choice = self.choose_node(shape, [known[i] for i in np.flatnonzero(ok)], cluster)
        if choice is not None:
            scores[choice] = MAX_PRIORITY
        return scores

    def choose_node(
        self, shape: Resources, names: list[str], cluster: GpuCluster | None = None
    ) -> str | None:
        """Where the default policy would place the pod among these feasible nodes (on
        ``cluster``, a view of the books; default: the books)."""
        if not names or not shape.wants_gpu:
            return names[0] if names else None
        cluster = cluster or self._ensure()
        candidates = np.array(sorted(self._index[n] for n in names), dtype=np.int64)
        return self._names[self._policy(shape).place(cluster, shape, candidates, self._rng).node]

    def assume(self, uid: str, shape: Resources, node: str, *, now: float) -> tuple[int, ...]:
        """Bind-time: choose the GPUs on ``node`` and book them at ``now`` (seconds, the clock
        :meth:`expire` is given); :class:`NoFit` if none fit."""
        self.meet(uid, shape)
        held = self.holdings.get(uid)
        if held is not None and held.node == node:
            return held.gpus  # asked again for a bind already booked
        cluster = self._view(uid)
        row = self._index.get(node)
        if row is None or not cluster.feasible(shape)[row]:
            raise NoFit(f"pod no longer fits node {node} on the extender's books")
        gpus: tuple[int, ...] = ()
        if shape.wants_gpu:
            gpus = self._policy(shape).place(cluster, shape, np.array([row]), self._rng).gpus
        self.put_pod(uid, Holding(node, shape, gpus))
        self._in_flight[uid] = now
        return gpus

    def _policy(self, shape: Resources) -> GpuPolicy:
        """The engine's policy for this call, over the workload met so far (at least this pod:
        the server meets every pod it is asked about, a direct caller may not have)."""
        seen = self.seen or Counter({without_memory(shape): 1})
        return self.factory(np.arange(len(self._index)), seen)

    def device_memory_mib(self, node: str) -> int:
        """The memory of each of the node's GPUs, 0 when unknown (as gpushare writes it)."""
        entry = self.nodes.get(node)
        return entry[0].gpu_memory_mib if entry else 0

    # -- the arrays ---------------------------------------------------------------------------

    def _view(self, uid: str) -> GpuCluster:
        """The books as pod ``uid`` sees them: the GPUs reserved for other pods taken (a
        scratch copy, only while some reservation counts)."""
        cluster = self._ensure()
        held = [
            (row, [g for g in r.gpus if g < cluster.gpu_count[row]])
            for node, r in self.reservations.items()
            if r.uid != uid
            and r.uid not in self.holdings
            and (row := self._index.get(node)) is not None
        ]
        if not held:
            return cluster
        view = cluster.copy()
        for row, gpus in held:
            view.gpu_free[row, gpus] = 0
            view.gpu_memory_free[row, gpus] = 0
        return view

    def _invalidate(self) -> None:
        self._cluster = None
        self._counted = set()

    def _ensure(self) -> GpuCluster:
        """The cluster arrays, rebuilt from the records if the node set changed."""
        if self._cluster is not None:
            return self._cluster
        ordered = sorted(self.nodes.items(), key=lambda entry: (entry[1][1], entry[0]))
        self._cluster = GpuCluster(
            [capacity for _, (capacity, _) in ordered], cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES
        )
        self._names = [name for name, _ in ordered]
        self._index = {name: i for i, name in enumerate(self._names)}
        for uid, holding in self.holdings.items():
            self._count(uid, holding)
        return self._cluster

    def _count(self, uid: str, holding: Holding) -> None:
        """Add a holding to the arrays; one that cannot be booked is logged, not counted."""
        assert self._cluster is not None
        row = self._index.get(holding.node)
        if row is None:
            return  # its node is not listed yet: counted when the node arrives
        gpus, requests = holding.gpus, holding.requests
        if requests.wants_gpu and len(gpus) != requests.gpu_devices:
            # bound without our annotations: book the GPUs the default rule would have chosen
            gpus = self._cluster.tightest_gpus(row, requests)
            self.holdings[uid] = Holding(holding.node, requests, gpus)
        try:
            self._cluster.bind(row, requests, gpus)
        except ValueError as error:
            log.error("pod %s on %s cannot be booked (%s): not counted", uid, holding.node, error)
            return
        self._counted.add(uid)

    @staticmethod
    def _fits_empty(cluster: GpuCluster, shape: Resources) -> np.ndarray:
        """Nodes that could host the pod if nothing else ran there."""
        ok = (cluster.cpu_cap >= shape.cpu_milli) & (cluster.memory_cap >= shape.memory_mib)
        if not shape.wants_gpu:
            return ok
        big = (cluster.gpu_memory_cap >= shape.gpu_memory_mib).sum(axis=1)
        return ok & (np.minimum(big, cluster.gpu_count) >= shape.gpu_devices)

    @staticmethod
    def _never_reason(cluster: GpuCluster, shape: Resources, row: int) -> str:
        if cluster.cpu_cap[row] < shape.cpu_milli or cluster.memory_cap[row] < shape.memory_mib:
            return "node too small for the pod's CPU or memory"
        if not cluster.gpu_count[row]:
            return "node has no GPUs"
        if cluster.gpu_count[row] < shape.gpu_devices:
            return f"node has fewer than {shape.gpu_devices} GPUs"
        return f"node's GPUs have less than {shape.gpu_memory_mib} MiB of memory"

    @staticmethod
    def _gpu_busy_reason(shape: Resources) -> str:
        """Why a node with CPU and memory enough cannot host the pod now."""
        if shape.is_gpu_share:
            return f"no GPU with {shape.gpu_milli} milli-GPU and {shape.gpu_memory_mib} MiB free"
        whole = "GPU" if shape.gpu_devices == 1 else "GPUs"
        return f"fewer than {shape.gpu_devices} idle {whole} (1000 milli-GPU each)"
