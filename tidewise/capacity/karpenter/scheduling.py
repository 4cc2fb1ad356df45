"""Karpenter's scheduling simulation and launch choice, as the twin's ``karpenter`` baseline.

What a real Karpenter (``sigs.k8s.io/karpenter`` v1.12.0) does with a batch of pending pods,
as pure functions over the catalog's ``Offering`` (docs/karpenter-baseline.md cites each rule):

* the pods go in order of CPU, then memory, largest first, ties by age
  (``provisioning/scheduling/queue.go``, ``byCPUAndMemoryDescending``);
* each goes to the first node that is already there or booting with room for it
  (``addToExistingNode``), else to the new NodeClaim of this batch holding the fewest pods
  that still has an instance type fitting all of its pods plus the pod
  (``addToInflightNode``, ``NodeClaim.CanAdd``), else to a new NodeClaim
  (``addToNewNodeClaim``). A NodeClaim is a set of instance types, narrowed pod by pod; it
  grows while any type still holds everything;
* each NodeClaim is then launched as one node of one offering: spot when the NodePool allows
  it and a spot offering is available, else on-demand (the AWS provider's capacity-type
  choice); among spot, EC2's price-capacity-optimized strategy is modelled as the least
  price weighted by the pool's interruption band (``SpotPoolRules.surcharge``, the weighting
  the twin and the rendered NodeOverlays share), spot offerings dearer than the claim's
  cheapest on-demand left out (``filterUnwantedSpot``).

A node's allocatable is its capacity less ``kube_reserved`` (kwok's provider reserves 100m
CPU and 10 MiB on every type; the twin's nodes reserve nothing, so the twin passes zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import Node, NodeState, Offering, Pod, PurchaseOption, Resources
from tidewise.placement import fit_on, with_pod
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES

NOTHING_RESERVED = Resources()
KARPENTER_BUYS = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})
"""A default NodePool's capacity types: no reservations, no serverless."""


@dataclass(frozen=True)
class Catalog:
    """What one NodePool may buy now: its offerings by instance type, less those marked
    unavailable (an insufficient-capacity error or an interruption, for a while)."""

    by_type: dict[str, tuple[Offering, ...]]
    kube_reserved: Resources = NOTHING_RESERVED
    pools: SpotPoolRules = field(default_factory=SpotPoolRules)

    @classmethod
    def of(
        cls,
        offerings: Iterable[Offering],
        unavailable: frozenset[str] = frozenset(),
        kube_reserved: Resources = NOTHING_RESERVED,
        pools: SpotPoolRules | None = None,
    ) -> Catalog:
        by_type: dict[str, list[Offering]] = {}
        for offering in offerings:
            if offering.option in KARPENTER_BUYS and offering.key not in unavailable:
                by_type.setdefault(offering.instance_type.name, []).append(offering)
        return cls(
            {name: tuple(o) for name, o in by_type.items()},
            kube_reserved,
            pools or SpotPoolRules(),
        )

    @property
    def options(self) -> frozenset[PurchaseOption]:
        """The capacity types the NodePool may buy now."""
        return frozenset(o.option for offerings in self.by_type.values() for o in offerings)

    def empty_node(self, name: str) -> Node:
        """An empty node of the type as Karpenter sizes it: the reservation already taken."""
        offering = self.by_type[name][0]
        return Node(
            name=f"claim/{name}",
            offering=offering,
            capacity=offering.instance_type.capacity,
            state=NodeState.READY,
            launched_s=0.0,
            allocated_cpu_milli=self.kube_reserved.cpu_milli,
            allocated_memory_mib=self.kube_reserved.memory_mib,
        )


@dataclass
class Claim:
    """A NodeClaim of the simulation: its pods, the purchase options they all accept, and for
    every instance type still able to hold them all, that type's node with them placed."""

    options: frozenset[PurchaseOption]
    fitting: dict[str, Node]
    pods: list[Pod] = field(default_factory=list)

    def add(self, pod: Pod, catalog: Catalog) -> bool:
        options = self.options & _accepts(pod)
        fitting = {}
        for name, node in self.fitting.items():
            if not any(o.option in options for o in catalog.by_type[name]):
                continue
            gpus = fit_on(node, pod.requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
            if gpus is not None:
                fitting[name] = with_pod(node, pod.requests, gpus)
        if not fitting:
            return False
        self.options, self.fitting = options, fitting
        self.pods.append(pod)
        return True

    def offerings(self, catalog: Catalog) -> list[Offering]:
        return [
            o for name in self.fitting for o in catalog.by_type[name] if o.option in self.options
        ]


@dataclass
class Simulation:
    """Where a batch of pods goes: ``placed`` on existing nodes (by node name), ``claims`` to
    launch, ``unplaceable`` pods no instance type holds."""

    placed: dict[str, list[Pod]]
    claims: list[Claim]
    unplaceable: list[Pod]


def pod_order(pods: Iterable[Pod]) -> list[Pod]:
    """Karpenter's queue: CPU, then memory, largest first; then the oldest."""
    return sorted(
        pods, key=lambda p: (-p.requests.cpu_milli, -p.requests.memory_mib, p.created_s, p.name)
    )


def simulate(pods: Iterable[Pod], nodes: Sequence[Node], catalog: Catalog) -> Simulation:
    """Karpenter's scheduling simulation of ``pods`` over ``nodes`` (Ready or booting; they
    are filled in the order given) and new NodeClaims."""
    room = list(nodes)
    placed: dict[str, list[Pod]] = {}
    claims: list[Claim] = []
    unplaceable: list[Pod] = []
    for pod in pod_order(pods):
        if _place_on_existing(pod, room, placed):
            continue
        # the claim with the fewest pods first, as Karpenter sorts its new NodeClaims
        if any(c.add(pod, catalog) for c in sorted(claims, key=lambda c: len(c.pods))):
            continue
        claim = Claim(catalog.options, {name: catalog.empty_node(name) for name in catalog.by_type})
        if claim.add(pod, catalog):
            claims.append(claim)
        else:
            unplaceable.append(pod)
    return Simulation(placed, claims, unplaceable)


def _place_on_existing(pod: Pod, room: list[Node], placed: dict[str, list[Pod]]) -> bool:
    for i, node in enumerate(room):
        if not pod.may_run_on(node):
            continue
        gpus = fit_on(node, pod.requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES)
        if gpus is not None:
            room[i] = with_pod(node, pod.requests, gpus)
            placed.setdefault(node.name, []).append(pod)
            return True
    return False


def launch_offering(offerings: Sequence[Offering], pools: SpotPoolRules) -> Offering | None:
    """The offering a NodeClaim with these offerings is launched as (module docstring):
    spot first, by band-weighted price, no dearer than the cheapest on-demand; else the
    cheapest on-demand. Ties go to the list price, then to the catalog order."""
    on_demand = [o for o in offerings if o.option is PurchaseOption.ON_DEMAND]
    ceiling = min((o.price_per_hour for o in on_demand), default=float("inf"))
    spot = [
        o
        for o in offerings
        if o.option is PurchaseOption.SPOT and o.price_per_hour <= ceiling + 1e-12
    ]
    if spot:
        return min(
            spot, key=lambda o: (o.price_per_hour * (1 + pools.surcharge(o)), o.price_per_hour)
        )
    return min(on_demand, key=lambda o: o.price_per_hour, default=None)


def cheapest_price(offerings: Iterable[Offering]) -> float:
    return min((o.price_per_hour for o in offerings), default=float("inf"))


def _accepts(pod: Pod) -> frozenset[PurchaseOption]:
    """The capacity types a pod's node selector allows (all, without one)."""
    return KARPENTER_BUYS if pod.capacity_types is None else KARPENTER_BUYS & pod.capacity_types
