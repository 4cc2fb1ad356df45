"""The GPU-packing experiment with moves: defragmentation against the FGD simulator's
descheduling policies, under the same protocol (:mod:`tidewise.sim.gpupack.bench`).

Every way of moving pods runs on the same tuned, shuffled workloads as the policy alone, and
may move at most ``budget`` x the pods placed (the simulator's deschedule ratio):

* ``moves`` (ours, as the issue asks): when an arriving GPU pod fits nowhere,
  :func:`plan_defrag` looks for the fewest moves of small pods that make room for it; the
  moved pods leave, the arriving pod is bound where the plan puts it, and the moved pods are
  placed again by the run's policy, as the scheduler extender places the pods their
  controllers recreate. Never more moves than ``budget`` x the pods placed so far.
* ``fragOnePod``, ``fragMultiPod``, ``cosSim`` (the simulator's, as their code runs them:
  ``pkg/simulator/core.go``, ``deschedule.go``, ``deschedule_utils.go`` in
  hkust-adsl/kubernetes-scheduler-simulator): once, after every pod has arrived, evict up to
  ``ceil(budget x pods placed)`` pods chosen by the policy, then place the evicted pods
  again with the run's policy in the order they were evicted (:func:`deschedule`). Their
  simulator never offers the pods that failed on arrival again, so the pass cannot raise the
  allocation; we report that allocation, and also what it becomes when the failed pods are
  then offered once more in arrival order (our addition, so that the pass is judged by what
  it makes room for).
* ``moves-after`` (ours on their timing): after every pod has arrived, the failed pods
  are offered again in arrival order, each with :func:`plan_defrag`.

A moved pod that finds no place again is lost (counted, and no longer allocated).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.model.results import GpuMovesSummary
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.defrag import PodLayout, RunningPod, asks_at_least, plan_defrag
from tidewise.placement.frag import FragmentationIndex, ShapeMix
from tidewise.placement.gpu_policies import FgdPolicy, GpuPolicy, Placement
from tidewise.sim.gpupack.bench import (
    CPU_PODS_ON_GPU_NODES,
    GPU_POLICIES,
    PackRun,
    level_means,
    summarise,
    tune,
)

DESCHEDULERS = ("fragOnePod", "fragMultiPod", "cosSim")
"""The FGD simulator's descheduling policies (``-p/--deschedule-policy``)."""

MOVERS = ("moves", "moves-after", *DESCHEDULERS)

MAX_MOVES_PER_POD = 4
"""Ours: the most moves spent on one waiting pod (measured: 8 finds no more on openb)."""

COS_SIM_CPU_BAR = 2000  # cosSim's hard-coded bars: nodes with less CPU left than this ...
COS_SIM_GPU_BAR = 500  # ... and some GPU with more share left than this


@dataclass(frozen=True)
class Mover:
    """A way of moving pods (one of :data:`MOVERS`) and its budget: the fraction of placed
    pods it may move."""

    kind: str
    budget: float
    max_moves: int = MAX_MOVES_PER_POD
    chains: bool = False  # ours: plan_defrag's chains

    def __post_init__(self) -> None:
        if self.kind not in MOVERS:
            raise ValueError(f"unknown way of moving pods {self.kind!r}; one of {MOVERS}")

    @property
    def label(self) -> str:
        """``moves@1%``; ours with other than :data:`MAX_MOVES_PER_POD` per pod: ``moves@1%x8``,
        with chains: ``moves@1%+chains``."""
        label = f"{self.kind}@{self.budget:.2%}".replace(".00%", "%")
        ours = self.kind.startswith("moves")
        if ours and self.max_moves != MAX_MOVES_PER_POD:
            label += f"x{self.max_moves}"
        return label + "+chains" if ours and self.chains else label


@dataclass(frozen=True)
class MovesRun(PackRun):
    placed: int = 0
    moved: int = 0
    lost: int = 0
    alloc_pct_arrived: float = 0.0  # when every pod has arrived
    alloc_pct_end: float = 0.0  # after the descheduling pass (as their simulator ends)
    alloc_pct_retried: float = 0.0  # then with the failed pods offered again
    alloc_bound_pct: float = 100.0  # sliver_bound at the first failure


@dataclass
class Packing:
    """One run's cluster, policy and layout of pods, with the moves' bookkeeping."""

    cluster: GpuCluster
    policy: GpuPolicy
    fragments: FragmentationIndex
    rank: np.ndarray
    rng: np.random.Generator
    layout: PodLayout = field(init=False)
    shared: bool = field(init=False)
    moved: int = 0
    lost: int = 0
    # requests no plan was found for (with at most that many moves) since a pod last left:
    # binds alone never make a plan possible (a plan in the fuller cluster works, with no
    # more moves, in the emptier one), so they are not planned again until a pod leaves
    hopeless: dict[Resources, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layout = PodLayout(self.cluster)
        policy = self.policy
        self.shared = isinstance(policy, FgdPolicy) and policy.index_for(self.cluster) is (
            self.fragments
        )

    def place(self, key: Hashable, pod: Resources) -> bool:
        """Place by the run's policy; False if the pod fits nowhere."""
        candidates = np.flatnonzero(self.cluster.feasible(pod))
        if not len(candidates):
            return False
        self.bind(key, pod, self.policy.place(self.cluster, pod, candidates, self.rng))
        return True

    def bind(self, key: Hashable, pod: Resources, placement: Placement) -> None:
        self.cluster.bind(placement.node, pod, placement.gpus)
        self.policy.bound(self.cluster, pod, placement)
        if not self.shared:
            self.fragments.update(placement.node)
        self.layout.add(RunningPod(key, placement.node, placement.gpus, pod))

    def evict(self, key: Hashable) -> RunningPod:
        running = self.layout.remove(key)
        self.cluster.release(running.node, running.request, running.gpus)
        self.hopeless.clear()
        self.policy.released(self.cluster, running.request, Placement(running.node, running.gpus))
        if not self.shared:
            self.fragments.update(running.node)
        return running

    def replace(self, evicted: Sequence[RunningPod]) -> None:
        """The evicted pods placed again by the policy, in order; those that fit nowhere
        are lost."""
        for running in evicted:
            if not self.place(running.key, running.request):
                self.lost += 1

    def _hopeless(self, pod: Resources, limit: int) -> bool:
        """No plan was found since a pod last left for a request ``pod`` asks at least as
        much as, with at least ``limit`` moves."""
        return any(
            tried >= limit and asks_at_least(pod, request)
            for request, tried in self.hopeless.items()
        )

    def defragment(self, key: Hashable, pod: Resources, mover: Mover) -> bool:
        """Our moves for a pod that fits nowhere, within the budget; True if it is placed."""
        allowance = math.floor(mover.budget * len(self.layout)) - self.moved
        limit = min(mover.max_moves, allowance)
        if not pod.wants_gpu or limit <= 0 or self._hopeless(pod, limit):
            return False
        plan = plan_defrag(
            self.cluster, self.layout, pod, max_moves=limit, rank=self.rank, chains=mover.chains
        )
        if plan is None:
            self.hopeless[pod] = max(limit, self.hopeless.get(pod, 0))
            return False
        evicted = [self.evict(move.pod) for move in plan.moves]
        self.moved += len(evicted)
        self.bind(key, pod, Placement(plan.node, plan.gpus))
        self.replace(evicted)
        return True


def sliver_bound(
    placed: Iterable[Resources], workload: Iterable[Resources], capacity_milli: int
) -> float:
    """An upper bound on the GPU allocation (% of cluster GPUs) of any run that keeps the
    ``placed`` pods placed, however it moves them: what no move can fill.

    Two shares above half a GPU never share a GPU, so each ``placed`` one leaves ``1000 -
    s`` on its GPU that only pods of at most that size can use. Fill those gaps with every
    share of the whole ``workload`` that fits one (split as finely as wanted, CPU and
    memory ignored: a relaxation, so the bound is loose): smallest gaps first with the
    smallest shares is the most that can be filled. The rest stays idle.
    """
    gaps = sorted(MILLI_PER_GPU - p.gpu_milli for p in placed if 2 * p.gpu_milli > MILLI_PER_GPU)
    smalls = sorted(p.gpu_milli for p in workload if p.is_gpu_share)
    pool = filled = 0
    next_small = 0
    for gap in gaps:
        while next_small < len(smalls) and smalls[next_small] <= gap:
            pool += smalls[next_small]
            next_small += 1
        take = min(gap, pool)
        filled += take
        pool -= take
    return 100 - 100 * (sum(gaps) - filled) / capacity_milli


def run_moves_once(
    nodes: Sequence[Resources],
    pods: Sequence[Resources],
    factory: Callable[[np.ndarray, ShapeMix], GpuPolicy],
    seed: int,
    ratio: float,
    mix: ShapeMix,
    mover: Mover,
    inspect: Callable[[Packing, Sequence[Resources], list[int]], None] | None = None,
) -> MovesRun:
    """:func:`tidewise.sim.gpupack.bench.run_once` with moves (same draws, same workload).
    ``inspect`` is shown the packing at the end, the workload and the pods still failed
    (bench/defrag_reach.py asks what plans remain for them)."""
    rng = np.random.default_rng(seed)
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
    workload = tune(pods, cluster.gpu_capacity, ratio, rng)
    rank = rng.permutation(len(cluster))
    policy = factory(rank, mix)
    if isinstance(policy, FgdPolicy) and policy.mix is mix:
        fragments = policy.index_for(cluster)
    else:
        fragments = FragmentationIndex(cluster, mix)
    packing = Packing(cluster, policy, fragments, rank, rng)
    arrived = np.zeros(len(workload))
    allocated = np.zeros(len(workload))
    fragment = np.zeros(len(workload))
    demand = 0
    failed: list[int] = []
    bound = 100.0
    online = mover.kind == "moves"
    started = time.perf_counter()
    for i, pod in enumerate(workload):
        demand += pod.gpu_milli_total
        policy.arrived(pod)
        if not packing.place(i, pod):
            if not failed:  # moves start here: what came before is as without them
                placed = (p.request for p in packing.layout.pods.values())
                bound = sliver_bound(placed, workload, cluster.gpu_capacity)
            if not (online and packing.defragment(i, pod, mover)):
                failed.append(i)
        arrived[i] = demand
        allocated[i] = cluster.gpu_allocated
        fragment[i] = fragments.fragments.sum()
    scale = 100 / cluster.gpu_capacity
    at_arrival = end = retried = cluster.gpu_allocated * scale
    if mover.kind == "moves-after":
        failed = [
            i
            for i in failed
            if not packing.place(i, workload[i]) and not packing.defragment(i, workload[i], mover)
        ]
        end = retried = cluster.gpu_allocated * scale
    elif not online:
        evicted = deschedule(packing, mover)
        packing.moved = len(evicted)
        packing.replace(evicted)
        end = cluster.gpu_allocated * scale
        failed = [i for i in failed if not packing.place(i, workload[i])]
        retried = cluster.gpu_allocated * scale
    wall = time.perf_counter() - started
    if inspect is not None:
        inspect(packing, workload, failed)
    arrived_pct = arrived * scale
    return MovesRun(
        policy=f"{policy.name}+{mover.label}",
        seed=seed,
        pods=len(workload),
        failed=len(failed),
        wall_s=wall,
        alloc_pct_at=level_means(arrived_pct, allocated * scale),
        frag_pct_at=level_means(arrived_pct, fragment * scale),
        placed=len(packing.layout),
        moved=packing.moved,
        lost=packing.lost,
        alloc_pct_arrived=round(at_arrival, 2),
        alloc_pct_end=round(end, 2),
        alloc_pct_retried=round(retried, 2),
        alloc_bound_pct=round(bound, 2),
    )


def summarise_moves(workload: str, mover: Mover, runs: Sequence[MovesRun]) -> GpuMovesSummary:
    """Means over seeds, beside the policy's own summary."""

    def mean(values: Iterable[float]) -> float:
        return round(float(np.mean(list(values))), 2)

    return GpuMovesSummary(
        **summarise(workload, runs).model_dump(),
        mover=mover.label,
        moved_pods=mean(r.moved for r in runs),
        placed_pods=mean(r.placed for r in runs),
        moved_pct_of_placed=mean(100 * r.moved / r.placed for r in runs),
        lost_pods=mean(r.lost for r in runs),
        alloc_pct_arrived=mean(r.alloc_pct_arrived for r in runs),
        alloc_pct_end=mean(r.alloc_pct_end for r in runs),
        alloc_pct_retried=mean(r.alloc_pct_retried for r in runs),
        alloc_pct_retried_by_seed={str(r.seed): r.alloc_pct_retried for r in runs},
        alloc_bound_pct=mean(r.alloc_bound_pct for r in runs),
    )


def run_moves_benchmark(
    nodes: Sequence[Resources],
    pods: Sequence[Resources],
    workload: str,
    policies: Sequence[str],
    movers: Sequence[Mover],
    seeds: Sequence[int],
    ratio: float,
    progress: Callable[[str, int], None] | None = None,
) -> list[GpuMovesSummary]:
    """Every policy with every way of moving pods, on every seed."""
    mix = ShapeMix.from_pods(pods)
    summaries = []
    for name in policies:
        for mover in movers:
            runs = []
            for seed in seeds:
                factory = GPU_POLICIES[name]
                runs.append(run_moves_once(nodes, pods, factory, seed, ratio, mix, mover))
                if progress is not None:
                    progress(f"{name}+{mover.label}", seed)
            summaries.append(summarise_moves(workload, mover, runs))
    return summaries


def deschedule(packing: Packing, mover: Mover) -> list[RunningPod]:
    """The FGD simulator's descheduling pass: evict up to ``ceil(budget x pods placed)`` pods
    chosen by ``mover.kind``; returns them in the order evicted (not placed again)."""
    budget = math.ceil(mover.budget * len(packing.layout))
    if mover.kind == "cosSim":
        return _cos_sim(packing, budget)
    if mover.kind == "fragOnePod":
        return _frag_one_pod(packing, budget)
    if mover.kind == "fragMultiPod":
        return _frag_multi_pod(packing, budget)
    raise ValueError(f"{mover.kind!r} is not a descheduler; one of {', '.join(DESCHEDULERS)}")


def _frag_victim(
    packing: Packing, node: int, before: float, cpu_free: int, gpu_free: np.ndarray
) -> tuple[RunningPod, float] | None:
    """The pod on ``node`` whose leaving lowers the node's fragmentation most, by at least
    one milli-GPU once truncated to an integer as their code does (first such pod on ties),
    judged against the node state given; with the node's fragmentation after it leaves."""
    best: tuple[RunningPod, float] | None = None
    best_gain = 0
    for running in packing.layout.on_node[node].values():
        free = gpu_free.copy()
        free[list(running.gpus)] += running.request.gpu_milli_each
        after = packing.fragments.of_state(node, cpu_free + running.request.cpu_milli, free)
        gain = int(before - after)  # Go's int64(): towards zero
        if gain > best_gain:
            best, best_gain = (running, after), gain
    return best


def _frag_one_pod(packing: Packing, budget: int) -> list[RunningPod]:
    """fragOnePod: nodes from the most fragmented down (FGD's measure over the target
    workload), at most one pod each: the one whose leaving lowers that node's fragmentation
    most. Their nodes of equal fragmentation come in map order; ours in the run's node order."""
    frag = packing.fragments.fragments.copy()
    cluster = packing.cluster
    evicted: list[RunningPod] = []
    for node in np.lexsort((packing.rank, -frag)).tolist():
        if len(evicted) >= budget:
            break
        found = _frag_victim(
            packing, node, frag[node], int(cluster.cpu_free[node]), cluster.gpu_free[node]
        )
        if found is not None:
            evicted.append(packing.evict(found[0].key))
    return evicted


def _frag_multi_pod(packing: Packing, budget: int) -> list[RunningPod]:
    """fragMultiPod: a priority queue of nodes by fragmentation; pop the most fragmented,
    evict its best victim, push it back with its fragmentation after, until the budget or
    the queue runs out (a node without a victim leaves the queue).

    As their code does, every victim on a node is judged against the node as it was before
    the pass (only the list of pods shrinks), and the node returns to the queue with the
    fragmentation it has without that one pod. The first victim is the best single
    eviction, so no later candidate beats it: in effect one pod per node, as fragOnePod,
    with the queue's order of ties.
    """
    cluster = packing.cluster
    frag = packing.fragments.fragments.copy()
    cpu_before = cluster.cpu_free.copy()
    gpu_before = cluster.gpu_free.copy()
    queue = [(-frag[n], int(packing.rank[n]), n) for n in range(len(cluster))]
    heapq.heapify(queue)
    evicted: list[RunningPod] = []
    while len(evicted) < budget and queue:
        negative, rank, node = heapq.heappop(queue)
        found = _frag_victim(packing, node, -negative, int(cpu_before[node]), gpu_before[node])
        if found is not None:
            evicted.append(packing.evict(found[0].key))
            heapq.heappush(queue, (-found[1], rank, node))
    return evicted


def _cos_sim(packing: Packing, budget: int) -> list[RunningPod]:
    """cosSim: nodes short of CPU (under 2 cores left) that still have a GPU more than half
    free, most free GPU share first; on each, one pod: the one whose request is least
    aligned (cosine similarity of [CPU, GPU]) with what the node would have free without it."""
    cluster = packing.cluster
    gpu_left = cluster.gpu_free.sum(axis=1)
    chosen = (cluster.cpu_free < COS_SIM_CPU_BAR) & (cluster.gpu_free > COS_SIM_GPU_BAR).any(axis=1)
    nodes = np.flatnonzero(chosen)
    nodes = nodes[np.lexsort((packing.rank[nodes], -gpu_left[nodes]))]
    evicted: list[RunningPod] = []
    for node in nodes.tolist():
        if len(evicted) >= budget:
            break
        victim, least = None, 1.0
        for running in packing.layout.on_node[node].values():
            want = np.array([running.request.cpu_milli, running.request.gpu_milli_total], float)
            free = np.array([cluster.cpu_free[node], gpu_left[node]], float) + want
            norms = np.linalg.norm(want) * np.linalg.norm(free)
            if not norms:
                continue  # their similarity is an error (-1) for a zero vector: skipped
            similarity = float(want @ free / norms)
            if 0 <= similarity < least:
                victim, least = running, similarity
        if victim is not None:
            evicted.append(packing.evict(victim.key))
    return evicted
