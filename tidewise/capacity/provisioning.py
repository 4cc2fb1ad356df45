"""What to buy for pods that fit nowhere: the cheapest set of nodes that hosts the whole batch.

Buying per pod shape (the cheapest offering for each shape alone) misses that shapes share a
node: a CPU-heavy and a memory-heavy pod together may fill one large node more cheaply than
each fills its own small one. Small batches are solved exactly as an integer programme (HiGHS
through SciPy); large ones greedily, never worse than the per-shape plan.

Pods already covered by nodes that are still booting are not bought for twice: that double
purchase on every autoscaler tick is the classic bug of naive provisioners.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from tidewise.model import (
    MILLI_PER_GPU,
    Launch,
    Node,
    NodeState,
    Offering,
    Pod,
    PurchaseOption,
    Resources,
)
from tidewise.placement import fit_on, pods_per_node, with_pod
from tidewise.placement.fit import admits, gpu_fits, model_accepted
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES

EXACT_MAX_PODS = 200
EXACT_MAX_OFFERINGS = 40
EXACT_NODE_LIMIT = 1000
"""Branch-and-bound nodes HiGHS may explore: a bound on the work, not on the time, so that a
plan (and every replay of the twin) is the same on a loaded machine as on an idle one; the
default week's 326 solves each need at most 1."""
_COST_TOLERANCE = 1e-9

Shapes = list[tuple[Resources, int]]


@dataclass(frozen=True, slots=True)
class Choice:
    offering: Offering
    pods_per_node: int

    @property
    def price_per_pod(self) -> float:
        return self.offering.price_per_hour / self.pods_per_node


def cheapest_offering(
    requests: Resources, offerings: Sequence[Offering], unavailable: frozenset[str] = frozenset()
) -> Choice | None:
    """The offering that hosts pods of this shape at the lowest price per pod.

    Ties go to the larger node (fewer nodes to run), then to the catalog order.
    """
    best: Choice | None = None
    for offering in offerings:
        if offering.option is PurchaseOption.SERVERLESS or offering.key in unavailable:
            continue
        per_node = pods_per_node(
            offering.instance_type.capacity, requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES
        )
        if per_node == 0:
            continue
        choice = Choice(offering, per_node)
        if (
            best is None
            or choice.price_per_pod < best.price_per_pod - 1e-12
            or (
                abs(choice.price_per_pod - best.price_per_pod) <= 1e-12
                and per_node > best.pods_per_node
            )
        ):
            best = choice
    return best


def first_fit(pods: Sequence[Pod], nodes: Sequence[Node]) -> list[Pod]:
    """The pods left over after placing them first-fit, largest first, on ``nodes`` they may
    run on."""
    room = list(nodes)
    left: list[Pod] = []
    for pod in sorted(pods, key=lambda p: _size_key(p.requests), reverse=True):
        for i, node in enumerate(room):
            gpus = (
                fit_on(node, pod.requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
                if pod.may_run_on(node)
                else None
            )
            if gpus is not None:
                room[i] = with_pod(node, pod.requests, gpus)
                break
        else:
            left.append(pod)
    return left


def absorb_into_launching(pending: Sequence[Pod], nodes: Sequence[Node]) -> list[Pod]:
    """The pending pods left over after filling booting nodes first-fit, largest first."""
    booting = [replace(n, state=NodeState.READY) for n in nodes if n.state is NodeState.LAUNCHING]
    return first_fit(pending, booting)


def plan_for_pods(
    pods: Sequence[Pod],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> list[Launch]:
    """Launches for ``pods``, each group of pods pinned to the same purchase options planned
    on the offerings it may use. Groups are planned apart: a pinned pod cannot share a node
    of an option it refuses, and mixing groups on an allowed node is what the scheduler does
    anyway when the nodes are up."""
    groups: dict[frozenset[PurchaseOption] | None, list[Resources]] = {}
    for pod in pods:
        groups.setdefault(pod.capacity_types, []).append(pod.requests)
    launches: list[Launch] = []
    for types, requests in sorted(groups.items(), key=lambda g: sorted(g[0] or ())):
        allowed = [o for o in offerings if types is None or o.option in types]
        launches += plan_launches(requests, allowed, unavailable)[0]
    return launches


@dataclass
class PlanMemo:
    """Plans by what they are for (shapes and pins of the pods, offerings, unavailable
    pools): the same small batches recur all day, and an exact plan is a MILP solve."""

    size: int = 1024
    _plans: dict[Hashable, tuple[Launch, ...]] = field(default_factory=dict)

    def plan(
        self, pods: Sequence[Pod], offerings: Sequence[Offering], unavailable: frozenset[str]
    ) -> list[Launch]:
        key = (
            tuple(sorted(Counter((p.requests, p.capacity_types) for p in pods).items(), key=repr)),
            tuple(o.key for o in offerings),
            unavailable,
        )
        if key not in self._plans:
            if len(self._plans) >= self.size:
                self._plans.clear()
            self._plans[key] = tuple(plan_for_pods(pods, offerings, unavailable))
        return list(self._plans[key])


def plan_launches(
    pending: Sequence[Resources],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> tuple[list[Launch], list[Resources]]:
    """Launches that host every pending pod at least hourly cost, and the pods nothing hosts.

    Exact for batches up to ``EXACT_MAX_PODS`` pods and ``EXACT_MAX_OFFERINGS`` useful
    offerings; greedy beyond, where the integer programme would stall an autoscaler tick.
    """
    shapes, unplaceable, usable = _prepare(pending, offerings, unavailable)
    pods = sum(count for _, count in shapes)
    if pods <= EXACT_MAX_PODS and len(usable) <= EXACT_MAX_OFFERINGS:
        plan = _plan_exact(shapes, usable, EXACT_NODE_LIMIT)
    else:
        plan = _plan_greedy(shapes, usable)
    return _launches(plan), unplaceable


def plan_launches_exact(
    pending: Sequence[Resources],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
    node_limit: int = EXACT_NODE_LIMIT,
) -> tuple[list[Launch], list[Resources]]:
    """The integer-programme plan whatever the batch size (:func:`plan_launches` bounds it)."""
    shapes, unplaceable, usable = _prepare(pending, offerings, unavailable)
    return _launches(_plan_exact(shapes, usable, node_limit)), unplaceable


def plan_launches_greedy(
    pending: Sequence[Resources],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> tuple[list[Launch], list[Resources]]:
    """The greedy plan whatever the batch size, for comparison with the exact one."""
    shapes, unplaceable, usable = _prepare(pending, offerings, unavailable)
    return _launches(_plan_greedy(shapes, usable)), unplaceable


def plan_launches_per_shape(
    pending: Sequence[Resources],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> tuple[list[Launch], list[Resources]]:
    """Each shape alone on its cheapest offering: the floor the other plans must never lose to."""
    shapes, unplaceable, usable = _prepare(pending, offerings, unavailable)
    return _launches(_plan_per_shape(shapes, usable)), unplaceable


def plan_cost(launches: Sequence[Launch]) -> float:
    """Hourly price of a plan."""
    return sum(launch.offering.price_per_hour * launch.count for launch in launches)


def _prepare(
    pending: Sequence[Resources], offerings: Sequence[Offering], unavailable: frozenset[str]
) -> tuple[Shapes, list[Resources], list[Offering]]:
    """Hostable shapes largest first, unhostable pods, and the offerings worth considering.

    An offering is dropped when another is at most as dear and at least as large in every
    dimension with the same GPUs: any node of it can be swapped for the other, so dropping it
    keeps the exact plan exact while shrinking the programme. Ties keep the catalog's first.
    """
    candidates = [
        o
        for o in offerings
        if o.option is not PurchaseOption.SERVERLESS and o.key not in unavailable
    ]
    counts = Counter(pending)
    shapes: Shapes = []
    unplaceable: list[Resources] = []
    for requests, count in sorted(counts.items(), key=lambda kv: _size_key(kv[0])):
        if any(
            pods_per_node(
                o.instance_type.capacity, requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES
            )
            for o in candidates
        ):
            shapes.append((requests, count))
        else:
            unplaceable.extend([requests] * count)
    shapes.reverse()
    useful = [
        o
        for o in candidates
        if any(
            pods_per_node(o.instance_type.capacity, s, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
            for s, _ in shapes
        )
    ]
    usable = [
        o
        for i, o in enumerate(useful)
        if not any(_dominates(other, o, j < i) for j, other in enumerate(useful) if j != i)
    ]
    return shapes, unplaceable, usable


def _dominates(a: Offering, b: Offering, a_first: bool) -> bool:
    ca, cb = a.instance_type.capacity, b.instance_type.capacity
    if (ca.gpu_count, ca.gpu_model) != (cb.gpu_count, cb.gpu_model):
        return False
    if ca.cpu_milli < cb.cpu_milli or ca.memory_mib < cb.memory_mib:
        return False
    if ca.gpu_memory_mib < cb.gpu_memory_mib or a.price_per_hour > b.price_per_hour:
        return False
    strictly = a.price_per_hour < b.price_per_hour or (
        ca.cpu_milli,
        ca.memory_mib,
        ca.gpu_memory_mib,
    ) != (cb.cpu_milli, cb.memory_mib, cb.gpu_memory_mib)
    return strictly or a_first


def _plan_exact(shapes: Shapes, offerings: Sequence[Offering], node_limit: int) -> list[Node]:
    """Nodes from the integer programme, packed for real; the greedy plan where it is cheaper.

    Variables: ``n[o]`` nodes of offering ``o`` and ``x[s, o]`` pods of shape ``s`` on them.
    Every pod is placed (``sum_o x[s, o] = count[s]``); per offering the pods' CPU, memory,
    GPU share (a whole GPU counts 1000) and GPU memory fit the nodes' totals; and no more pods
    of a shape than ``pods_per_node`` per node. Pooling a node type's capacity lets pods
    straddle nodes, so the optimum is a lower bound; when first-fit packs every pod onto the
    chosen nodes it is also a plan, hence optimal (to HiGHS's gap). Otherwise the leftovers
    get new nodes greedily, and the greedy plan wins if that repair made it dearer.
    """
    greedy = _plan_greedy(shapes, offerings)
    if not shapes:
        return greedy
    solved = _solve(shapes, offerings, node_limit)
    if solved is None:
        return greedy
    opened = [_empty_node(o) for o, n in zip(offerings, solved, strict=True) for _ in range(n)]
    packed = _pack(shapes, offerings, opened)
    return packed if _cost(packed) <= _cost(greedy) + _COST_TOLERANCE else greedy


def _solve(shapes: Shapes, offerings: Sequence[Offering], node_limit: int) -> list[int] | None:
    """Node counts per offering at least cost, or ``None`` if HiGHS finds no solution within
    ``node_limit`` branch-and-bound nodes."""
    # imported here: scipy.optimize is most of a `tidewise` command's start-up otherwise
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    n_off, n_shapes = len(offerings), len(shapes)
    per_node = [
        [
            pods_per_node(o.instance_type.capacity, s, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
            for o in offerings
        ]
        for s, _ in shapes
    ]

    def x(s: int, o: int) -> int:
        return n_off + s * n_off + o

    size = n_off + n_shapes * n_off
    cost = np.zeros(size)
    upper = np.zeros(size)
    for o, offering in enumerate(offerings):
        cost[o] = offering.price_per_hour
        upper[o] = sum(-(-c // per_node[s][o]) for s, (_, c) in enumerate(shapes) if per_node[s][o])
    for s, (_, count) in enumerate(shapes):
        for o in range(n_off):
            upper[x(s, o)] = count if per_node[s][o] else 0
    rows = lil_matrix((n_shapes + n_off * 4 + n_shapes * n_off, size))
    low: list[float] = []
    high: list[float] = []
    for s, (_, count) in enumerate(shapes):
        for o in range(n_off):
            rows[s, x(s, o)] = 1
        low.append(count)
        high.append(count)
    row = n_shapes
    for o, offering in enumerate(offerings):
        capacity = offering.instance_type.capacity
        takes = [_request_vector(requests, capacity) for requests, _ in shapes]
        for r, total in enumerate(_capacity_vector(capacity)):
            rows[row, o] = -total
            for s in range(n_shapes):
                if per_node[s][o]:
                    rows[row, x(s, o)] = takes[s][r]
            low.append(-np.inf)
            high.append(0)
            row += 1
    for s in range(n_shapes):
        for o in range(n_off):
            rows[row, x(s, o)] = 1
            rows[row, o] = -per_node[s][o]
            low.append(-np.inf)
            high.append(0)
            row += 1
    result = milp(
        cost,
        constraints=LinearConstraint(rows.tocsr(), low, high),
        integrality=np.ones(size, dtype=np.int_),
        bounds=Bounds(np.zeros(size), upper),
        options={"node_limit": node_limit},
    )
    if result.x is None:
        return None
    return [round(v) for v in result.x[:n_off]]


def _capacity_vector(capacity: Resources) -> tuple[int, int, int, int]:
    """CPU, memory, GPU share and GPU memory a node has in total."""
    gpus = capacity.gpu_count
    return (
        capacity.cpu_milli,
        capacity.memory_mib,
        gpus * MILLI_PER_GPU,
        gpus * capacity.gpu_memory_mib,
    )


def _request_vector(requests: Resources, capacity: Resources) -> tuple[int, int, int, int]:
    """What a pod takes from those totals: a whole GPU takes all its share and memory; GPU
    memory of unknown size (0) is not counted, as it never limits (the fit rule)."""
    if requests.gpu_count:
        share = requests.gpu_count * MILLI_PER_GPU
        memory = requests.gpu_count * capacity.gpu_memory_mib
    else:
        share = requests.gpu_milli
        memory = requests.gpu_memory_mib if capacity.gpu_memory_mib else 0
    return requests.cpu_milli, requests.memory_mib, share, memory


def _plan_greedy(shapes: Shapes, offerings: Sequence[Offering]) -> list[Node]:
    """Greedy packing, or the per-shape nodes (packed the same way) where those are cheaper."""
    greedy = _pack(shapes, offerings)
    per_shape = _pack(shapes, offerings, _plan_per_shape(shapes, offerings))
    return greedy if _cost(greedy) <= _cost(per_shape) + _COST_TOLERANCE else per_shape


def _pack(shapes: Shapes, offerings: Sequence[Offering], opened: Sequence[Node] = ()) -> list[Node]:
    """First-fit decreasing into ``opened``, then into new nodes; nodes that stay empty dropped.

    A new node is the offering whose best fill with the pods still to place is worth most per
    dollar, a pod being worth its price alone on its own cheapest offering: a large node that
    several shapes fill beats the small one each shape would pick alone.
    """
    worth = {}
    for requests, _ in shapes:
        choice = cheapest_offering(requests, offerings)
        assert choice is not None  # _prepare keeps only shapes some offering hosts
        worth[requests] = choice.price_per_pod
    nodes = list(opened)
    for k, (requests, count) in enumerate(shapes):
        left, i = count, 0
        while left:
            if i == len(nodes):
                still = [(requests, left), *shapes[k + 1 :]]
                nodes.append(_empty_node(_best_new(still, offerings, worth)))
            gpus = fit_on(nodes[i], requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
            if gpus is None:
                i += 1
                continue
            nodes[i] = with_pod(nodes[i], requests, gpus)
            left -= 1
    return [node for node in nodes if node.pod_count]


def _best_new(
    still: Shapes, offerings: Sequence[Offering], worth: dict[Resources, float]
) -> Offering:
    first = still[0][0]
    best: Offering | None = None
    best_score = -1.0
    for offering in offerings:
        capacity = offering.instance_type.capacity
        if not pods_per_node(capacity, first, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES):
            continue
        value = sum(worth[s] * n for (s, _), n in zip(still, _fill(capacity, still), strict=True))
        price = offering.price_per_hour
        score = np.inf if price <= 0 else value / price
        if score > best_score + 1e-12:
            best, best_score = offering, score
    assert best is not None  # the first shape is hostable
    return best


def _fill(capacity: Resources, shapes: Shapes) -> list[int]:
    """How many pods of each shape an empty node takes, shape by shape: an estimate for scoring.

    Follows the fit rule (whole GPUs idle and then held entirely, shares best-fit per GPU)
    without building nodes, since it runs for every offering each time a node is opened.
    """
    cpu, memory = capacity.cpu_milli, capacity.memory_mib
    device_memory = capacity.device_memory_mib
    gpu_milli = [MILLI_PER_GPU] * capacity.gpu_count
    gpu_memory = [device_memory] * capacity.gpu_count
    taken = []
    for requests, count in shapes:
        admitted = admits(
            requests,
            capacity.gpu_count,
            model_accepted(requests, capacity),
            cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES,
        )
        n = count if admitted else 0
        if requests.cpu_milli:
            n = min(n, cpu // requests.cpu_milli)
        if requests.memory_mib:
            n = min(n, memory // requests.memory_mib)
        if requests.gpu_count:
            idle = [
                g
                for g in range(capacity.gpu_count)
                if gpu_fits(requests, gpu_milli[g], gpu_memory[g], device_memory)
            ]
            n = min(n, len(idle) // requests.gpu_count)
            for g in idle[: n * requests.gpu_count]:
                gpu_milli[g], gpu_memory[g] = 0, 0
        elif requests.wants_gpu and n:
            placed = 0
            for g in sorted(range(capacity.gpu_count), key=lambda g: gpu_milli[g]):
                room = n - placed
                if requests.gpu_milli:
                    room = min(room, gpu_milli[g] // requests.gpu_milli)
                if requests.gpu_memory_mib:
                    room = min(room, gpu_memory[g] // requests.gpu_memory_mib)
                gpu_milli[g] -= room * requests.gpu_milli
                gpu_memory[g] -= room * requests.gpu_memory_mib
                placed += room
            n = placed
        cpu -= n * requests.cpu_milli
        memory -= n * requests.memory_mib
        taken.append(n)
    return taken


def _plan_per_shape(shapes: Shapes, offerings: Sequence[Offering]) -> list[Node]:
    """Today's plan, before the batch planners: each shape alone on its cheapest offering."""
    counts: Counter[Offering] = Counter()
    for requests, count in reversed(shapes):
        choice = cheapest_offering(requests, offerings)
        assert choice is not None  # _prepare keeps only shapes some offering hosts
        counts[choice.offering] += -(-count // choice.pods_per_node)
    return [_empty_node(offering) for offering, n in counts.items() for _ in range(n)]


def _empty_node(offering: Offering) -> Node:
    capacity = offering.instance_type.capacity
    return Node(
        name="planned",
        offering=offering,
        capacity=capacity,
        state=NodeState.READY,
        launched_s=0.0,
    )


def _cost(nodes: Sequence[Node]) -> float:
    return sum(node.offering.price_per_hour for node in nodes)


def _launches(nodes: Sequence[Node]) -> list[Launch]:
    """Runs of the same offering in packing order: first-fit onto them redoes the plan's packing.

    Merging all nodes of an offering into one launch would reorder them, and first-fit
    decreasing onto another order of the same nodes can fail where the plan's order succeeded.
    """
    launches: list[Launch] = []
    for node in nodes:
        if launches and launches[-1].offering == node.offering:
            launches[-1] = replace(launches[-1], count=launches[-1].count + 1)
        else:
            launches.append(Launch(offering=node.offering))
    return launches


def _size_key(r: Resources) -> tuple[int, int, int, int]:
    return (r.gpu_count, r.gpu_milli, r.cpu_milli, r.memory_mib)
