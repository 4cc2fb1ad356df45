"""Who pays for a node: its hourly price split over the pods on it by what they request, the
rest shown apart as idle.

The rules follow the OpenCost specification (opencost/opencost ``spec/opencost-specv01.md``):
a workload is charged for the resources it is allocated (here its requests) times each
resource's hourly price; a node's price is split into CPU, memory and GPU costs; what no
workload is allocated is *idle* and is reported on its own rather than spread silently. Where
OpenCost charges ``max(request, usage)``, tidewise charges the request: the scheduler reserves
it whether or not it is used (usage is left to a later version, docs/cost.md).

A node's price is split with per-vCPU and per-GiB prices fitted to the catalog's CPU-only
on-demand prices (``unit_prices``); on a GPU node the GPUs carry whatever the CPU and memory at
those prices leave of the node's price. The parts are rescaled to sum to the price exactly,
so that the pods' costs plus the idle remainder always equal what the nodes cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tidewise.catalog import serverless_parts_per_hour
from tidewise.model import MILLI_PER_GPU, Offering, PurchaseOption, Resources

IDLE = "__idle__"
"""The key of what no pod is allocated (OpenCost's name for it)."""


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """USD per vCPU-hour and per GiB-hour of memory."""

    usd_per_vcpu_hour: float
    usd_per_gib_hour: float


def unit_prices(offerings: Iterable[Offering]) -> UnitPrices:
    """The per-vCPU and per-GiB hourly prices that best explain (non-negative least squares)
    the on-demand prices of the CPU-only types: what a vCPU and a GiB cost when bought in a
    machine, so a GPU machine's price above them is what its GPUs cost."""
    rows = [
        (o.instance_type.vcpus, o.instance_type.memory_mib / 1024, o.price_per_hour)
        for o in offerings
        if o.option is PurchaseOption.ON_DEMAND and not o.instance_type.gpu_count
    ]
    if len(rows) < 2:
        return UnitPrices(0.0, 0.0)
    table = np.array(rows, dtype=float)
    per_vcpu, per_gib = nonnegative_least_squares_2(table[:, :2], table[:, 2])
    return UnitPrices(per_vcpu, per_gib)


def nonnegative_least_squares_2(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``argmin |a x - b|`` over ``x >= 0`` for two unknowns, exactly, with numpy alone (scipy's
    ``nnls`` costs the job CLI most of a second to import): the unconstrained solution when
    it is non-negative; else the optimum lies on a face of the quadrant, so it is the best of
    each one-unknown fit (clipped at 0) and the origin."""
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    if (x >= 0).all():
        return float(x[0]), float(x[1])
    faces = [np.zeros(2)]
    for j in (0, 1):
        column = a[:, j]
        norm = float(column @ column)
        face = np.zeros(2)
        face[j] = max(float(column @ b) / norm, 0.0) if norm > 0 else 0.0
        faces.append(face)
    best = min(faces, key=lambda f: float(np.sum((a @ f - b) ** 2)))
    return float(best[0]), float(best[1])


@dataclass(frozen=True, slots=True)
class Cost:
    """USD per hour, by resource."""

    cpu: float = 0.0
    memory: float = 0.0
    gpu: float = 0.0

    @property
    def total(self) -> float:
        return self.cpu + self.memory + self.gpu

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.cpu - other.cpu, self.memory - other.memory, self.gpu - other.gpu)


@dataclass(frozen=True, slots=True)
class PricedNode:
    """A node, what it holds (its allocatable resources) and what it costs an hour."""

    name: str
    usd_per_hour: float
    capacity: Resources


@dataclass(frozen=True, slots=True)
class PlacedPod:
    """A pod bound to a node, with its requests and the labels the costs are summed by."""

    name: str
    namespace: str
    node: str
    requests: Resources
    labels: Mapping[str, str] = field(default_factory=dict)


def node_parts(node: PricedNode, prices: UnitPrices) -> Cost:
    """The node's hourly price as CPU, memory and GPU costs that sum to it exactly."""
    cpu = node.capacity.cpu_milli / 1000 * prices.usd_per_vcpu_hour
    memory = node.capacity.memory_mib / 1024 * prices.usd_per_gib_hour
    gpu = max(node.usd_per_hour - cpu - memory, 0.0) if node.capacity.gpu_count else 0.0
    rest = node.usd_per_hour - gpu
    if cpu + memory > 0:
        return Cost(rest * cpu / (cpu + memory), rest * memory / (cpu + memory), gpu)
    # no catalog to weigh CPU against memory: half each, as good as any other guess
    return Cost(rest / 2, rest / 2, gpu)


def gpu_fraction(requests: Resources, capacity: Resources) -> float:
    """How many of the node's GPUs the pod holds: whole GPUs, a share in milli-GPUs, or a
    share asked as device memory alone (gpushare's ``aliyun.com/gpu-mem``)."""
    if requests.gpu_count or requests.gpu_milli:
        return requests.gpu_milli_total / MILLI_PER_GPU
    if requests.gpu_memory_mib and capacity.gpu_memory_mib:
        return min(requests.gpu_memory_mib / capacity.gpu_memory_mib, 1.0)
    return 0.0


def _shares(pods: Sequence[PlacedPod], capacity: Resources) -> list[tuple[float, float, float]]:
    """Each pod's share of the node's CPU, memory and GPUs; over-committed resources are
    scaled down so the shares never sum past the whole."""
    raw = [
        (
            p.requests.cpu_milli / capacity.cpu_milli if capacity.cpu_milli else 0.0,
            p.requests.memory_mib / capacity.memory_mib if capacity.memory_mib else 0.0,
            gpu_fraction(p.requests, capacity) / capacity.gpu_count if capacity.gpu_count else 0.0,
        )
        for p in pods
    ]
    sums = [sum(column) for column in zip(*raw, strict=True)] if raw else [0.0, 0.0, 0.0]
    scale = [1 / total if total > 1 else 1.0 for total in sums]
    return [(c * scale[0], m * scale[1], g * scale[2]) for c, m, g in raw]


@dataclass(frozen=True, slots=True)
class Allocation:
    """What each pod costs an hour, and what each node leaves idle."""

    pods: dict[tuple[str, str], Cost]  # (namespace, name)
    idle: dict[str, Cost]  # by node

    @property
    def total(self) -> float:
        return sum(c.total for c in self.pods.values()) + sum(c.total for c in self.idle.values())


def serverless_costs(pods: Sequence[PlacedPod], offering: Offering) -> dict[tuple[str, str], Cost]:
    """What each pod on a virtual node (virtual-kubelet, ECI) costs an hour: no node is paid
    for, each pod is billed per second for its own vCPUs and memory at the serverless
    ``offering``'s prices (``ValueError`` for a pod no serverless container can host)."""
    return {
        (p.namespace, p.name): Cost(*serverless_parts_per_hour(offering, p.requests)) for p in pods
    }


def allocate(
    nodes: Sequence[PricedNode],
    pods: Sequence[PlacedPod],
    prices: UnitPrices,
    billed: Mapping[tuple[str, str], Cost] | None = None,
) -> Allocation:
    """Every node's price split over its pods, the remainder idle; the pods ``billed`` on
    their own (``serverless_costs``) at that price. Other pods on no known node (pending, or
    on a node that is gone) cost nothing: nothing is paid for them."""
    on_node: dict[str, list[PlacedPod]] = {n.name: [] for n in nodes}
    for pod in pods:
        if pod.node in on_node:
            on_node[pod.node].append(pod)
    costs: dict[tuple[str, str], Cost] = dict(billed or {})
    idle: dict[str, Cost] = {}
    for node in nodes:
        parts = node_parts(node, prices)
        allocated = Cost()
        for pod, (cpu, memory, gpu) in zip(
            on_node[node.name], _shares(on_node[node.name], node.capacity), strict=True
        ):
            cost = Cost(parts.cpu * cpu, parts.memory * memory, parts.gpu * gpu)
            key = (pod.namespace, pod.name)
            costs[key] = costs.get(key, Cost()) + cost
            allocated = allocated + cost
        idle[node.name] = parts - allocated
    return Allocation(costs, idle)


def summed(
    allocation: Allocation, pods: Sequence[PlacedPod], key: Callable[[PlacedPod], str]
) -> dict[str, Cost]:
    """The pods' costs summed by ``key`` (a namespace, a label's value...), with the nodes'
    idle remainder under ``IDLE``."""
    out: dict[str, Cost] = {}
    for pod in pods:
        cost = allocation.pods.get((pod.namespace, pod.name))
        if cost is not None:
            group = key(pod)
            out[group] = out.get(group, Cost()) + cost
    out[IDLE] = sum(allocation.idle.values(), Cost())
    return out
