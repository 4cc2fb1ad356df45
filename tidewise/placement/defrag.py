"""Defragmentation by moving small pods: room for a GPU pod that fits nowhere.

When a pod cannot be placed although the cluster has the GPU share it asks for, the share
is scattered: a whole-GPU pod finds no idle GPU because every GPU carries a small pod, or a
node has idle GPUs but no CPU or memory left. Moving a few small pods (GPU shares and
CPU-only pods) to gaps elsewhere frees what the pod needs. :func:`plan_defrag` finds the node
where the fewest moves make the pod fit, and a destination for every moved pod, and returns
the plan as data: which pods to evict and where each is expected to land. It moves nothing
itself; the caller evicts the pods (in Kubernetes through the Eviction API, whose
PodDisruptionBudget check is final) and the scheduler places them again by its usual policy.

The rules:

* **Only small pods move.** Pods that hold whole GPUs stay (moving one costs as much as the
  GPU it frees), and so do pods marked not movable: ``karpenter.sh/do-not-disrupt``, pods no
  controller would recreate, DaemonSet pods.
* **Disruption budgets.** ``budgets`` maps a budget's name to the evictions it allows now
  (a PodDisruptionBudget's ``disruptionsAllowed``); a plan never evicts more pods covered by
  a budget than it allows.
* **A move must land.** Each moved pod needs a place under the same fit rule on the cluster
  as it will be: the evicted pods gone and the waiting pod bound where the plan puts it, so
  no moved pod is expected on the GPUs it freed. Moved pods go to the tightest gap that fits
  (the fullest GPU; CPU-only pods to nodes with the least idle GPU share), biggest first.
* **Where a pod may run.** The waiting pod only goes to nodes ``allowed``, and each moved
  pod only lands on its :attr:`RunningPod.nodes`: the nodes its node selector, required node
  affinity and tolerations admit (:mod:`tidewise.placement.eligibility`), so a plan never
  expects a pod where kube-scheduler would not put it.
* **Relief.** Where a GPU share would fit a gap but the gap's node has no CPU or memory left
  (common: GPU shares ask for many cores), CPU-only pods on that node may move to nodes whose
  GPUs are full, at one move each, to make the landing possible.
* **Chains** (``chains=True``, off by default). Where a moved share fits no gap at all
  (late in a full cluster the free share lies in slivers), smaller shares may move off one
  GPU to gaps on other nodes, largest first, at one move each, until the share fits there;
  the :data:`CHAIN_GPUS` GPUs with the least share to clear are tried.

How the node is found (fewest moves). Per node an estimate of the moves is one vector pass:
for whole GPUs, the sum over the ``k`` cheapest GPUs of the pods on each (a GPU with a pod
that cannot move is out; one more where the GPU's largest pod can only land with relief;
out where it cannot land at all); for a share, 0 on a GPU where it fits, 1 or 2 where moving
pods could make room; at least 1 if CPU or memory is short. It never counts more moves than
a plan needs, moves within the node aside. Nodes are tried in order of it; on a node the
moves are chosen exactly for GPUs (the cheapest ``k`` GPUs; for a share, the GPU emptied by
the fewest moves, largest pods first) and greedily for CPU and memory (largest first), then
every moved pod is given a destination. The search stops when the next estimate cannot beat
the best plan found, or after ``max_candidates`` nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.fit import gpu_fits, node_fits

NEVER = 1 << 30
"""A move count no plan reaches: the node (or GPU) cannot be freed."""

RELIEF_NODES = 4
"""How many gap nodes a share that fits nowhere tries relief on, tightest gap first."""

CHAIN_GPUS = 8
"""How many GPUs a moved share that fits nowhere tries to clear room on by moving smaller
shares off them, the least share to clear first."""


@dataclass(frozen=True, slots=True)
class RunningPod:
    """A pod bound to a node of the cluster (an index into it) and, for a GPU pod, GPUs.

    ``budgets`` names the disruption budgets that cover it; ``movable`` is False for a pod
    that must not be evicted (do-not-disrupt, no controller to recreate it). ``nodes`` are
    the nodes it may run on whatever is free there (its node selector, required node
    affinity and tolerations: :mod:`tidewise.placement.eligibility`); ``None``: all.
    """

    key: Hashable
    node: int
    gpus: tuple[int, ...]
    request: Resources
    budgets: tuple[str, ...] = ()
    movable: bool = True
    nodes: frozenset[int] | None = None

    @property
    def can_move(self) -> bool:
        """Small and allowed to: a GPU share or a CPU-only pod, not marked otherwise."""
        return self.movable and not self.request.gpu_count


@dataclass(frozen=True, slots=True)
class Move:
    """Evict ``pod`` from ``source``; the plan expects it on ``node``, GPUs ``gpus``."""

    pod: Hashable
    source: int
    node: int
    gpus: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DefragPlan:
    """Make room for the waiting pod on ``node`` (GPUs ``gpus``) by the ``moves``, in the
    order given (each move's destination assumes the moves before it are done)."""

    node: int
    gpus: tuple[int, ...]
    moves: tuple[Move, ...]


class PodLayout:
    """Which pods run where, beside a :class:`GpuCluster`: per GPU and node the sums the
    estimate needs, kept current pod by pod so that planning starts with one vector pass.
    """

    def __init__(self, cluster: GpuCluster, pods: Sequence[RunningPod] = ()) -> None:
        shape = cluster.gpu_free.shape
        self.pods: dict[Hashable, RunningPod] = {}
        self.on_node: list[dict[Hashable, RunningPod]] = [{} for _ in range(shape[0])]
        self.movers = np.zeros(shape, dtype=np.int64)  # movable pods on each GPU
        self.pinned = np.zeros(shape, dtype=np.int64)  # pods on each GPU that stay
        self.movable_milli = np.zeros(shape, dtype=np.int64)
        self.movable_gpu_memory = np.zeros(shape, dtype=np.int64)
        # the movable pod with the largest share on each GPU, as an index into ``shapes``
        # (-1: none); the estimate asks once per shape whether it could land anywhere
        self.largest = np.full(shape, -1, dtype=np.int64)
        self.shapes: list[Resources] = []
        self._shape_ids: dict[Resources, int] = {}
        self.movable_cpu = np.zeros(shape[0], dtype=np.int64)  # per node, every movable pod
        self.movable_memory = np.zeros(shape[0], dtype=np.int64)
        self.relief_cpu = np.zeros(shape[0], dtype=np.int64)  # per node, movable CPU-only pods
        self.relief_memory = np.zeros(shape[0], dtype=np.int64)
        for pod in pods:
            self.add(pod)

    def __len__(self) -> int:
        return len(self.pods)

    def add(self, pod: RunningPod) -> None:
        if pod.key in self.pods:
            raise ValueError(f"pod {pod.key!r} is already placed")
        self.pods[pod.key] = pod
        self.on_node[pod.node][pod.key] = pod
        self._count(pod, 1)

    def remove(self, key: Hashable) -> RunningPod:
        pod = self.pods.pop(key)
        del self.on_node[pod.node][key]
        self._count(pod, -1)
        return pod

    def _count(self, pod: RunningPod, sign: int) -> None:
        node, gpus, request = pod.node, list(pod.gpus), pod.request
        if not pod.can_move:
            self.pinned[node, gpus] += sign
            return
        self.movable_cpu[node] += sign * request.cpu_milli
        self.movable_memory[node] += sign * request.memory_mib
        if not request.wants_gpu:
            self.relief_cpu[node] += sign * request.cpu_milli
            self.relief_memory[node] += sign * request.memory_mib
            return
        self.movers[node, gpus] += sign
        self.movable_milli[node, gpus] += sign * request.gpu_milli
        self.movable_gpu_memory[node, gpus] += sign * request.gpu_memory_mib
        for g in gpus:
            largest = max(
                (p.request for p in self.on_node[node].values() if g in p.gpus and p.can_move),
                key=lambda r: (r.gpu_milli, r.gpu_memory_mib, r.cpu_milli, r.memory_mib),
                default=None,
            )
            self.largest[node, g] = -1 if largest is None else self._shape_id(largest)

    def _shape_id(self, request: Resources) -> int:
        if request not in self._shape_ids:
            self._shape_ids[request] = len(self.shapes)
            self.shapes.append(request)
        return self._shape_ids[request]


def asks_at_least(pod: Resources, other: Resources) -> bool:
    """``pod`` needs at least what ``other`` needs, in every way: the same kind of GPU
    request (whole GPUs, a share, none), no less of anything, no more GPU models accepted.
    Where no plan makes room for ``other``, none makes room for ``pod``: a caller that
    remembers failed requests need not plan for ``pod`` until a pod leaves."""
    if (bool(pod.gpu_count), pod.wants_gpu) != (bool(other.gpu_count), other.wants_gpu):
        return False
    fields = ("cpu_milli", "memory_mib", "gpu_count", "gpu_milli", "gpu_memory_mib")
    if any(getattr(pod, f) < getattr(other, f) for f in fields):
        return False
    models, accepted = pod.gpu_models, other.gpu_models
    return accepted is None or (models is not None and models <= accepted)


def plan_defrag(
    cluster: GpuCluster,
    layout: PodLayout,
    pod: Resources,
    *,
    budgets: Mapping[str, int] | None = None,
    max_moves: int = 4,
    rank: np.ndarray | None = None,
    max_candidates: int = 128,
    allowed: np.ndarray | None = None,
    chains: bool = False,
) -> DefragPlan | None:
    """The plan with the fewest moves (at most ``max_moves``) that lets ``pod`` fit, or
    ``None``. Reads ``cluster`` and ``layout`` and changes neither. ``rank`` orders nodes
    of equal cost (default: index order); ``allowed`` masks the nodes ``pod`` may run on
    (default: all), as :attr:`RunningPod.nodes` does for the pods moved. ``chains`` lets a
    moved share land where smaller shares move off a GPU (module docstring); off by default:
    on openb it added 0.03 points of allocation for 0.2 % more pods moved, and the smaller
    shares, placed again by the scheduler's own policy, can take the room meant for the
    share, which is then lost (bench/RESULTS.md)."""
    if max_moves < 0:
        return None
    landing = landing_cost(cluster, layout, chains=chains)
    estimate = estimate_moves(cluster, layout, pod, landing)
    if allowed is not None:
        estimate = np.where(allowed, estimate, NEVER)
    candidates = np.flatnonzero(estimate <= max_moves)
    if not len(candidates):
        return None
    order = np.arange(len(cluster)) if rank is None else rank
    candidates = candidates[np.lexsort((order[candidates], estimate[candidates]))]
    best: DefragPlan | None = None
    memo = _Memo(cluster, layout, order, chains)
    for node in candidates[:max_candidates].tolist():
        if best is not None and estimate[node] >= len(best.moves):
            break
        limit = max_moves if best is None else len(best.moves) - 1
        plan = _Planner(cluster, layout, budgets or {}, memo, limit).plan(pod, node, landing)
        if plan is not None:
            best = plan
    return best


def landing_cost(cluster: GpuCluster, layout: PodLayout, *, chains: bool = False) -> np.ndarray:
    """Per GPU: the moves beyond its own pods that moving its largest movable pod takes, as
    the cluster is now: 0 if some node has the share, CPU and memory free for it (or the GPU
    has no movable pod), 1 if one would after relief or, with ``chains``, after moving
    smaller movable pods off a GPU, :data:`NEVER` if none would. GPU
    memory, models and the nodes the pod may run on aside, so it never says more than it
    takes; the plan checks exactly."""
    ids = np.unique(layout.largest)
    ids = ids[ids >= 0]
    cost = np.zeros(len(layout.shapes) + 1, dtype=np.int64)  # the last entry: -1, no pod
    if len(ids):
        shapes = [layout.shapes[i] for i in ids.tolist()]
        want = np.array([[s.gpu_milli, s.cpu_milli, s.memory_mib] for s in shapes]).T[..., None]
        gap = cluster.gpu_free.max(axis=1) >= want[0]
        direct = gap & (cluster.cpu_free >= want[1]) & (cluster.memory_free >= want[2])
        relieved = (
            gap
            & (cluster.cpu_free + layout.movable_cpu >= want[1])
            & (cluster.memory_free + layout.movable_memory >= want[2])
        )
        later = relieved.any(axis=1)
        if chains:
            later |= _cleared(cluster, layout, want).any(axis=1)
        cost[ids] = np.where(direct.any(axis=1), 0, np.where(later, 1, NEVER))
    return cost[layout.largest]


def _cleared(cluster: GpuCluster, layout: PodLayout, want: np.ndarray) -> np.ndarray:
    """Per shape and node: whether moving smaller movable pods off some GPU could make room
    for it (a chain clears only pods smaller than the one it makes room for, so a GPU's
    largest movable pod counts only when smaller)."""
    largest = np.array([s.gpu_milli for s in layout.shapes] + [0])[layout.largest]
    too_big = largest[None] >= want[0][..., None]
    room = (cluster.gpu_free + layout.movable_milli)[None] - np.where(too_big, largest, 0)
    return np.asarray(
        (room.max(axis=2) >= want[0])
        & (cluster.cpu_free + layout.movable_cpu >= want[1])
        & (cluster.memory_free + layout.movable_memory >= want[2]),
        dtype=bool,
    )


def estimate_moves(
    cluster: GpuCluster, layout: PodLayout, pod: Resources, landing: np.ndarray
) -> np.ndarray:
    """Per node, the fewest moves that could make ``pod`` fit there (:data:`NEVER`: none
    do), from one vector pass over the cluster, the layout and :func:`landing_cost`."""
    real = np.arange(cluster.gpu_free.shape[1])[None, :] < cluster.gpu_count[:, None]
    cap = cluster.gpu_memory_cap
    if pod.gpu_count:
        usable = real & (cap >= pod.gpu_memory_mib) & (layout.pinned == 0)
        per_gpu = np.sort(np.where(usable, np.minimum(layout.movers + landing, NEVER), NEVER), 1)
        if per_gpu.shape[1] < pod.gpu_count:
            gpu_moves = np.full(len(cluster), NEVER)
        else:
            gpu_moves = np.minimum(per_gpu[:, : pod.gpu_count].sum(axis=1), NEVER)
    elif pod.wants_gpu:
        free, memory = cluster.gpu_free, cluster.gpu_memory_free
        fits_now = real & np.asarray(gpu_fits(pod, free, memory, cap), dtype=bool)
        freed = real & np.asarray(
            gpu_fits(pod, free + layout.movable_milli, memory + layout.movable_gpu_memory, cap),
            dtype=bool,
        )
        # the largest pod moves first
        per_gpu = np.where(fits_now, 0, np.where(freed, np.minimum(1 + landing, NEVER), NEVER))
        gpu_moves = per_gpu.min(axis=1) if per_gpu.shape[1] else np.full(len(cluster), NEVER)
    else:
        gpu_moves = np.zeros(len(cluster), dtype=np.int64)
    short = (cluster.cpu_free < pod.cpu_milli) | (cluster.memory_free < pod.memory_mib)
    reachable = (cluster.cpu_free + layout.movable_cpu >= pod.cpu_milli) & (
        cluster.memory_free + layout.movable_memory >= pod.memory_mib
    )
    admitted = cluster.admitted(pod) & (cluster.gpu_count >= pod.gpu_devices)
    moves = np.maximum(gpu_moves, short.astype(np.int64))
    return np.where(admitted & reachable, moves, NEVER)


class _Budgets:
    """The evictions a plan has spent against each disruption budget."""

    def __init__(self, allowed: Mapping[str, int]) -> None:
        self.allowed = allowed
        self.spent: Counter[str] = Counter()

    def affordable(self, pods: Sequence[RunningPod]) -> bool:
        want = Counter(b for p in pods for b in p.budgets)
        return all(self.spent[b] + n <= self.allowed.get(b, NEVER) for b, n in want.items())

    def take(self, pods: Sequence[RunningPod]) -> None:
        self.spent.update(b for p in pods for b in p.budgets)


class _Memo:
    """What one :func:`plan_defrag` call learns about the cluster as it is, shared by the
    nodes it tries: the nodes a share could land on after relief, requests that fit nowhere
    now, relief that failed."""

    def __init__(
        self, cluster: GpuCluster, layout: PodLayout, order: np.ndarray, chains: bool = False
    ) -> None:
        self.cluster = cluster
        self.layout = layout
        self.order = order
        self.chains = chains
        self._nowhere: dict[tuple[Resources, frozenset[int] | None], bool] = {}
        self._gaps: dict[tuple[Resources, frozenset[int] | None], list[int]] = {}
        self._masks: dict[frozenset[int], np.ndarray] = {}

    def mask(self, nodes: frozenset[int] | None) -> np.ndarray | None:
        """:attr:`RunningPod.nodes` as a mask over the nodes (``None`` stays ``None``)."""
        if nodes is None:
            return None
        if nodes not in self._masks:
            mask = np.zeros(len(self.cluster), dtype=bool)
            mask[list(nodes)] = True
            self._masks[nodes] = mask
        return self._masks[nodes]

    def nowhere(self, pod: RunningPod) -> bool:
        """No node the pod may run on can take it now."""
        key = (pod.request, pod.nodes)
        if key not in self._nowhere:
            feasible = self.cluster.feasible(pod.request)
            mask = self.mask(pod.nodes)
            self._nowhere[key] = not (feasible if mask is None else feasible & mask).any()
        return self._nowhere[key]

    def gap_nodes(self, pod: RunningPod) -> list[int]:
        """Nodes the share may run on with a GPU gap for it whose CPU and memory relief
        could cover it, tightest gap first (then node order)."""
        request, key = pod.request, (pod.request, pod.nodes)
        if key not in self._gaps:
            cluster, layout = self.cluster, self.layout
            gap = (cluster.fitting_count(request) >= 1) & cluster.admitted(request)
            cpu = cluster.cpu_free + layout.movable_cpu >= request.cpu_milli
            memory = cluster.memory_free + layout.movable_memory >= request.memory_mib
            mask = self.mask(pod.nodes)
            nodes = np.flatnonzero(gap & cpu & memory & (True if mask is None else mask))
            fits = cluster.fitting_gpus(request, nodes)
            tightest = np.where(fits, cluster.gpu_free[nodes], MILLI_PER_GPU + 1).min(axis=1)
            ranked = nodes[np.lexsort((self.order[nodes], tightest))]
            self._gaps[key] = ranked[:RELIEF_NODES].tolist()
        return self._gaps[key]


class _Planner:
    """One node's plan: which pods leave it, then where every moved pod lands, on a scratch
    copy of the cluster; at most ``limit`` moves."""

    def __init__(
        self,
        cluster: GpuCluster,
        layout: PodLayout,
        budgets: Mapping[str, int],
        memo: _Memo,
        limit: int,
    ) -> None:
        self.cluster = cluster
        self.layout = layout
        self.spent = _Budgets(budgets)
        self.memo = memo
        self.order = memo.order
        self.limit = limit
        self.leaving: set[Hashable] = set()
        self.roomier: set[int] = set()  # nodes with more room on the scratch than now

    def plan(self, pod: Resources, node: int, landing: np.ndarray) -> DefragPlan | None:
        chosen = self._evictions(pod, node, landing)
        if chosen is None:
            return None
        gpus, evicted = chosen
        if len(evicted) > self.limit:
            return None
        scratch = self.cluster.copy()
        for p in evicted:
            scratch.release(p.node, p.request, p.gpus)
        if not _fits_on(scratch, pod, node, gpus):
            return None
        scratch.bind(node, pod, gpus)
        self.roomier.add(node)
        moves: list[Move] = []
        total = len(evicted)
        biggest_first = sorted(
            evicted, key=lambda p: (-p.request.gpu_milli_total, -p.request.cpu_milli, str(p.key))
        )
        for p in biggest_first:
            found = self._land(scratch, p, self.limit - total)
            if found is None:
                return None
            scratch, landed = found
            total += len(landed) - 1
            moves.extend(landed)
        return DefragPlan(node, gpus, tuple(moves))

    @staticmethod
    def _keys(pods: Sequence[RunningPod]) -> set[Hashable]:
        return {p.key for p in pods}

    def _land(
        self, scratch: GpuCluster, pod: RunningPod, spare: int
    ) -> tuple[GpuCluster, list[Move]] | None:
        """A destination for a moved pod on ``scratch``, directly or after relief on a gap's
        node (at most ``spare`` more moves): the cluster after, and the moves."""
        request = pod.request
        allowed = self.memo.mask(pod.nodes)
        # a request that fits nowhere now can only land where the plan made room
        only = sorted(self.roomier) if self.memo.nowhere(pod) else None
        direct = tightest_place(scratch, request, self.order, among=only, allowed=allowed)
        if direct is not None:
            scratch.bind(direct[0], request, direct[1])
            return scratch, [Move(pod.key, pod.node, *direct)]
        if spare <= 0 or not request.wants_gpu:
            return None
        roomier = [
            n
            for n in sorted(self.roomier)
            if (allowed is None or allowed[n]) and scratch.fitting_count(request, np.array([n]))[0]
        ]
        for gap_node in dict.fromkeys(roomier + self.memo.gap_nodes(pod)):
            relieved = self._relieve(scratch, pod, gap_node, spare)
            if relieved is not None:
                return relieved
        return self._chain(scratch, pod, spare) if self.memo.chains else None

    def _chain(
        self, scratch: GpuCluster, pod: RunningPod, spare: int
    ) -> tuple[GpuCluster, list[Move]] | None:
        """Clear room for a moved share on a GPU by moving smaller shares off it to gaps on
        other nodes (largest first; at most ``spare`` more moves), on the :data:`CHAIN_GPUS`
        GPUs with the least share to clear."""
        request, cluster = pod.request, scratch
        allowed = self.memo.mask(pod.nodes)
        nodes = (
            (cluster.cpu_free + self.layout.movable_cpu >= request.cpu_milli)
            & (cluster.memory_free + self.layout.movable_memory >= request.memory_mib)
            & cluster.admitted(request)
            & (True if allowed is None else allowed)
        )
        real = np.arange(cluster.gpu_free.shape[1])[None, :] < cluster.gpu_count[:, None]
        room = cluster.gpu_free + self.layout.movable_milli
        ok = real & nodes[:, None] & (room >= request.gpu_milli)
        ok &= cluster.gpu_memory_cap >= request.gpu_memory_mib
        rows, cols = np.nonzero(ok)
        short = request.gpu_milli - cluster.gpu_free[rows, cols]
        for i in np.lexsort((self.order[rows], short))[:CHAIN_GPUS].tolist():
            cleared = self._clear(scratch, pod, int(rows[i]), int(cols[i]), spare)
            if cleared is not None:
                return cleared
        return None

    def _clear(
        self, scratch: GpuCluster, pod: RunningPod, node: int, gpu: int, spare: int
    ) -> tuple[GpuCluster, list[Move]] | None:
        """Move smaller shares off ``gpu`` of ``node`` until ``pod`` fits there."""
        request = pod.request
        residents = sorted(
            (
                p
                for p in self.layout.on_node[node].values()
                if gpu in p.gpus
                and p.can_move
                and p.key not in self.leaving
                and p.request.gpu_milli < request.gpu_milli
            ),
            key=lambda p: (-p.request.gpu_milli, str(p.key)),
        )
        trial = scratch.copy()
        chosen: list[RunningPod] = []
        moves: list[Move] = []
        for resident in residents:
            if _fits_on(trial, request, node, (gpu,)) or len(chosen) == spare:
                break
            if not self.spent.affordable([*chosen, resident]):
                continue
            trial.release(node, resident.request, resident.gpus)
            mask = self.memo.mask(resident.nodes)
            landing = tightest_place(trial, resident.request, self.order, node, allowed=mask)
            if landing is None:
                trial.bind(node, resident.request, resident.gpus)
                continue
            trial.bind(landing[0], resident.request, landing[1])
            chosen.append(resident)
            moves.append(Move(resident.key, node, *landing))
        if not chosen or not _fits_on(trial, request, node, (gpu,)):
            return None
        trial.bind(node, request, (gpu,))
        self.spent.take(chosen)
        self.leaving.update(p.key for p in chosen)
        return trial, [*moves, Move(pod.key, pod.node, node, (gpu,))]

    def _relieve(
        self, scratch: GpuCluster, pod: RunningPod, node: int, spare: int
    ) -> tuple[GpuCluster, list[Move]] | None:
        """Move CPU-only pods off ``node`` (to other nodes) until the share fits there."""
        request = pod.request
        cpu = int(scratch.cpu_free[node])
        memory = int(scratch.memory_free[node])
        cpu_short = cpu < request.cpu_milli
        residents = sorted(
            (
                p
                for p in self.layout.on_node[node].values()
                if p.can_move and p.key not in self.leaving
            ),
            key=lambda p: -(p.request.cpu_milli if cpu_short else p.request.memory_mib),
        )
        chosen: list[RunningPod] = []
        for resident in residents:
            if cpu >= request.cpu_milli and memory >= request.memory_mib:
                break
            if self.spent.affordable([*chosen, resident]):
                chosen.append(resident)
                cpu += resident.request.cpu_milli
                memory += resident.request.memory_mib
        if cpu < request.cpu_milli or memory < request.memory_mib or len(chosen) > spare:
            return None
        trial = scratch.copy()
        for resident in chosen:
            trial.release(node, resident.request, resident.gpus)
        gpus = trial.tightest_gpus(node, request)
        if not gpus or not _fits_on(trial, request, node, gpus):
            return None
        trial.bind(node, request, gpus)
        moves = [Move(pod.key, pod.node, node, gpus)]
        for resident in chosen:
            landing = tightest_place(
                trial,
                resident.request,
                self.order,
                exclude=node,
                allowed=self.memo.mask(resident.nodes),
            )
            if landing is None:
                return None
            trial.bind(landing[0], resident.request, landing[1])
            moves.append(Move(resident.key, node, *landing))
        self.spent.take(chosen)
        self.leaving.update(p.key for p in chosen)
        self.roomier.add(node)
        return trial, moves

    def _evictions(
        self, pod: Resources, node: int, landing: np.ndarray
    ) -> tuple[tuple[int, ...], list[RunningPod]] | None:
        """The pod's GPUs on ``node`` and the pods that leave it, within the budgets."""
        residents = list(self.layout.on_node[node].values())
        on_gpu: dict[int, list[RunningPod]] = {
            g: [] for g in range(int(self.cluster.gpu_count[node]))
        }
        for resident in residents:
            for g in resident.gpus:
                on_gpu[g].append(resident)
        if pod.gpu_count:
            chosen = self._whole_gpus(pod, node, on_gpu, landing[node])
        elif pod.wants_gpu:
            chosen = self._share(pod, node, on_gpu)
        else:
            chosen = ((), [])
        if chosen is None:
            return None
        gpus, evicted = chosen
        cpu = int(self.cluster.cpu_free[node]) + sum(p.request.cpu_milli for p in evicted)
        memory = int(self.cluster.memory_free[node]) + sum(p.request.memory_mib for p in evicted)
        if cpu < pod.cpu_milli or memory < pod.memory_mib:
            # then pods that could land elsewhere, the most of what is short first
            cpu_short = cpu < pod.cpu_milli
            gone = self._keys(evicted)
            others = sorted(
                (p for p in residents if p.can_move and p.key not in gone),
                key=lambda p: -(p.request.cpu_milli if cpu_short else p.request.memory_mib),
            )
            for extra in others:
                if cpu >= pod.cpu_milli and memory >= pod.memory_mib:
                    break
                if self.spent.affordable([extra]) and not self.memo.nowhere(extra):
                    self.spent.take([extra])
                    evicted.append(extra)
                    cpu += extra.request.cpu_milli
                    memory += extra.request.memory_mib
        if cpu < pod.cpu_milli or memory < pod.memory_mib:
            return None
        self.leaving.update(p.key for p in evicted)
        return gpus, evicted

    def _whole_gpus(
        self,
        pod: Resources,
        node: int,
        on_gpu: Mapping[int, list[RunningPod]],
        landing: np.ndarray,
    ) -> tuple[tuple[int, ...], list[RunningPod]] | None:
        """The ``k`` GPUs emptied at the least cost (pods, plus relief their largest pod
        needs; ties: the most CPU freed, lowest index)."""
        cap = self.cluster.gpu_memory_cap[node]
        options = [
            (len(pods) + int(landing[g]), -sum(p.request.cpu_milli for p in pods), g)
            for g, pods in on_gpu.items()
            if cap[g] >= pod.gpu_memory_mib and landing[g] < NEVER and all(p.can_move for p in pods)
        ]
        gpus: list[int] = []
        evicted: list[RunningPod] = []
        for _, _, g in sorted(options):
            if len(gpus) == pod.gpu_count:
                break
            if self.spent.affordable(on_gpu[g]):
                self.spent.take(on_gpu[g])
                evicted.extend(on_gpu[g])
                gpus.append(g)
        return (tuple(sorted(gpus)), evicted) if len(gpus) == pod.gpu_count else None

    def _share(
        self, pod: Resources, node: int, on_gpu: Mapping[int, list[RunningPod]]
    ) -> tuple[tuple[int, ...], list[RunningPod]] | None:
        """The GPU where the share fits after the fewest moves, largest pods moved first
        (ties: the least GPU share moved, lowest index)."""
        best: tuple[int, int, int] | None = None
        best_moved: list[RunningPod] = []
        for g, pods in on_gpu.items():
            milli = int(self.cluster.gpu_free[node, g])
            memory = int(self.cluster.gpu_memory_free[node, g])
            cap = int(self.cluster.gpu_memory_cap[node, g])
            moved: list[RunningPod] = []
            movable = sorted(
                (p for p in pods if p.can_move),
                key=lambda p: (-p.request.gpu_milli, -p.request.gpu_memory_mib),
            )
            for p in movable:
                if gpu_fits(pod, milli, memory, cap):
                    break
                if self.spent.affordable([*moved, p]):
                    moved.append(p)
                    milli += p.request.gpu_milli
                    memory += p.request.gpu_memory_mib
            if not gpu_fits(pod, milli, memory, cap):
                continue
            key = (len(moved), sum(p.request.gpu_milli for p in moved), g)
            if best is None or key < best:
                best, best_moved = key, moved
        if best is None:
            return None
        self.spent.take(best_moved)
        return (best[2],), best_moved


def _fits_on(cluster: GpuCluster, pod: Resources, node: int, gpus: tuple[int, ...]) -> bool:
    """Whether ``pod`` fits ``node`` now on exactly ``gpus`` (the fit rule)."""
    if not node_fits(pod, True, int(cluster.cpu_free[node]), int(cluster.memory_free[node]), True):
        return False
    return all(
        gpu_fits(
            pod,
            int(cluster.gpu_free[node, g]),
            int(cluster.gpu_memory_free[node, g]),
            int(cluster.gpu_memory_cap[node, g]),
        )
        for g in gpus
    )


def tightest_place(
    cluster: GpuCluster,
    pod: Resources,
    order: np.ndarray,
    exclude: int | None = None,
    among: Sequence[int] | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[int, tuple[int, ...]] | None:
    """Where a moved pod is expected to go: a share on the fullest GPU that fits it in the
    whole cluster (least CPU left after, then ``order``, on ties); a CPU-only pod on the node
    with the least idle GPU share, then least CPU left. ``None`` if it fits nowhere (but
    ``exclude``, the node it leaves for relief; only ``among`` these nodes if given; only
    where the mask ``allowed`` lets it run if given)."""
    feasible = cluster.feasible(pod)
    if allowed is not None:
        feasible &= allowed
    if among is not None:
        nodes = np.array([n for n in among if n != exclude], dtype=np.int64)
        nodes = nodes[feasible[nodes]] if len(nodes) else nodes
    else:
        if exclude is not None:
            feasible[exclude] = False
        nodes = np.flatnonzero(feasible)
    if not len(nodes):
        return None
    cpu_left = cluster.cpu_free[nodes] - pod.cpu_milli
    if pod.wants_gpu:
        fits = cluster.fitting_gpus(pod, nodes)
        left = np.where(fits, cluster.gpu_free[nodes], MILLI_PER_GPU + 1).min(axis=1)
    else:
        left = cluster.gpu_free[nodes].sum(axis=1)
    best = int(nodes[np.lexsort((order[nodes], cpu_left, left))[0]])
    return best, cluster.tightest_gpus(best, pod)
