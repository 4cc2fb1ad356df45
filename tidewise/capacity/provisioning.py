"""What to buy for pods that fit nowhere: the cheapest offering per pod, packed first-fit.

Pods already covered by nodes that are still booting are not bought for twice: that double
purchase on every autoscaler tick is the classic bug of naive provisioners.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tidewise.model import Launch, Node, NodeState, Offering, PurchaseOption, Resources
from tidewise.placement import fit_on, pods_per_node, with_pod


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
        per_node = pods_per_node(offering.instance_type.capacity, requests)
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


def absorb_into_launching(pending: Sequence[Resources], nodes: Sequence[Node]) -> list[Resources]:
    """The pending pods left over after filling booting nodes first-fit, largest first."""
    booting = [replace(n, state=NodeState.READY) for n in nodes if n.state is NodeState.LAUNCHING]
    left: list[Resources] = []
    for requests in sorted(pending, key=_size_key, reverse=True):
        for i, node in enumerate(booting):
            gpus = fit_on(node, requests)
            if gpus is not None:
                booting[i] = with_pod(node, requests, gpus)
                break
        else:
            left.append(requests)
    return left


def plan_launches(
    pending: Sequence[Resources],
    offerings: Sequence[Offering],
    unavailable: frozenset[str] = frozenset(),
) -> tuple[list[Launch], list[Resources]]:
    """Launches that host every pending pod, and the pods no offering can host."""
    launches: list[Launch] = []
    unplaceable: list[Resources] = []
    for requests, count in sorted(Counter(pending).items(), key=lambda kv: _size_key(kv[0])):
        choice = cheapest_offering(requests, offerings, unavailable)
        if choice is None:
            unplaceable.extend([requests] * count)
            continue
        nodes = -(-count // choice.pods_per_node)
        launches.append(Launch(offering=choice.offering, count=nodes))
    return launches, unplaceable


def _size_key(r: Resources) -> tuple[int, int, int, int]:
    return (r.gpu_count, r.gpu_milli, r.cpu_milli, r.memory_mib)
