"""Each workload's on-demand base on a real cluster: which capacity type a new replica is
pinned to, and what keeps the base held afterwards.

The twin pins ``rules.base(desired)`` replicas to capacity no cloud reclaims and lets the
rest go to spot (``CapacityRules``); on a cluster the same rule is applied one pod at a time,
at the pod's creation (an admission webhook: a pod's node affinity cannot change once it
exists), and repaired by a reconciler when creation alone could not hold it (a webhook that
was down, two pods admitted at once, an on-demand replica lost while others were created).

Everything here is decided from the replicas as the API shows them (their capacity label,
whether they are going away, when they were made), never from memory, so two replicas of
the webhook and a restarted operator reach the same answers.

Scale-in keeps the base through ``controller.kubernetes.io/pod-deletion-cost``: a
ReplicaSet removes its running, ready pods of the lowest cost first (Kubernetes docs,
"ReplicaSet: Pod deletion cost"), so the pods that hold the base cost the most, spot pods
less, and on-demand pods beyond the base (left over after a share-based base shrank, or two
admitted at once) the least: they go first, which never takes the base below what the
smaller replica count needs (``base`` never grows when the replicas fall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from tidewise.model import GUARANTEED, CapacityRules, PurchaseOption


class DeletionCost(IntEnum):
    """``controller.kubernetes.io/pod-deletion-cost`` by a replica's role (lowest goes first)."""

    EXCESS = -1  # on-demand beyond the base: the dearest replicas to keep
    SPOT = 0  # the Kubernetes default, as if unannotated
    BASE = 1  # the base: removed last


@dataclass(frozen=True, slots=True)
class Replica:
    """One replica as the API shows it: ``capacity`` is the type it is pinned to (or, for
    one admitted while the webhook was down, the type of the node it landed on; ``None``:
    not known yet), ``going`` once it has a deletion timestamp, ``created`` orders replicas
    (older first: the older on-demand replicas hold the base)."""

    name: str
    capacity: PurchaseOption | None
    created: float
    going: bool = False
    pinned: bool = True  # False: admitted without the webhook, so free to land anywhere

    @property
    def guaranteed(self) -> bool:
        return self.capacity in GUARANTEED


def next_capacity(
    rules: CapacityRules, replicas: int, existing: Sequence[Replica]
) -> PurchaseOption:
    """The capacity type a replica created now is pinned to: on-demand while fewer than
    ``rules.base(replicas)`` live replicas are on it, spot otherwise. Replicas admitted at
    the same instant do not see each other (none exists until admitted), so several may take
    the last base slot: :func:`plan_base` marks the extra ones :attr:`DeletionCost.EXCESS`
    and replaces them; none can leave the base short."""
    held = sum(1 for r in existing if r.guaranteed and not r.going)
    if held < rules.base(replicas):
        return PurchaseOption.ON_DEMAND
    return PurchaseOption.SPOT


@dataclass(frozen=True, slots=True)
class BasePlan:
    """What a reconciler pass does for one workload: the deletion cost each live replica
    should carry, and the replicas to evict so that their replacements, admitted again,
    restore a base that is short (``short``: by how many) or drop on-demand replicas beyond
    it (``over``)."""

    costs: dict[str, DeletionCost]
    evict: tuple[str, ...]
    base: int
    held: int

    @property
    def short(self) -> int:
        return max(0, self.base - self.held)

    @property
    def over(self) -> int:
        return max(0, self.held - self.base)


def plan_base(rules: CapacityRules, replicas: int, existing: Sequence[Replica]) -> BasePlan:
    """Deletion costs for every live replica, and the evictions that bring the replicas on
    guaranteed capacity back to the base.

    Evictions happen only while the workload has exactly its replicas: while fewer exist,
    its controller is creating the missing ones and the webhook pins them to on-demand
    first; while more exist, it is deleting the extra ones, spot first by deletion cost;
    evicting as well would throw a replica away for nothing, or take the base below what
    the smaller count needs while the controller deletes too. A base
    short by ``n`` evicts ``n`` replicas the base can least rely on: admitted without the
    webhook first, then spot, the newest first (the oldest have run longest, the likeliest
    warm); their replacements are pinned to on-demand. Replicas beyond the base on
    on-demand (two admitted at the same instant both took the last slot; a share-based base
    shrank) are evicted newest first; their replacements go to spot, the base untouched.
    """
    live = [r for r in existing if not r.going]
    guaranteed = sorted((r for r in live if r.guaranteed), key=lambda r: (r.created, r.name))
    base = rules.base(replicas)
    costs = {r.name: DeletionCost.SPOT for r in live}
    for i, replica in enumerate(guaranteed):
        costs[replica.name] = DeletionCost.BASE if i < base else DeletionCost.EXCESS
    evict: list[str] = []
    if len(live) == replicas:
        short = base - len(guaranteed)
        if short > 0:
            others = [r for r in live if not r.guaranteed and r.capacity is not None]
            others.sort(key=lambda r: (r.pinned, -r.created, r.name))
            evict = [r.name for r in others[:short]]
        else:
            evict = [r.name for r in reversed(guaranteed[base:])]
    return BasePlan(costs, tuple(evict), base, len(guaranteed))
