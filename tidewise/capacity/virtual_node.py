"""Serverless bursts on a cluster: which pending pods a virtual node (virtual-kubelet, Alibaba
ECI) takes, and which of them goes back to a VM next.

The twin's :class:`tidewise.capacity.serverless.ServerlessBurst` launches a serverless
container at once for a pod that would wait for a VM. On a cluster the container host is a
virtual node, tainted so that no pod lands there unasked; a pod goes there by tolerating the
taint, and a toleration is the one thing that may be added to a pod once created. Karpenter or
cluster-autoscaler is buying VMs for the same pending pods meanwhile, so a pod is sent only
after it has waited ``bound_s``: a VM that boots within the bound serves it at the VM's price.

Back to VMs, one pod at a time and never past a disruption budget (the Eviction API checks it
again): a pod moves when a VM it may run on has room for it (that VM is paid for already), or
when it has run on the virtual node past the twin's break-even (:func:`tidewise.capacity.
serverless.break_even_s`: not a short spike any more, a VM is cheaper), its replacement, which
carries no toleration, then being what makes the node engine buy that VM. Either way a
workload moves its next pod only once the previous replacement is Ready on a VM (no replica of
it is in flight), so a workload never has two replicas down for the move, and a replacement
that finds no VM within the bound simply bursts again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tidewise.capacity.serverless import BREAK_EVEN_OVERHEAD_S, break_even_s, hostable
from tidewise.model import Offering, Pod, Resources


@dataclass(frozen=True, slots=True)
class BurstRules:
    """When pods go to the virtual node, and the VM overhead the break-even counts."""

    bound_s: float = 30.0  # a pod pending this long goes to the virtual node
    everyone: bool = False  # every hostable pod, not only the workloads that opt in
    overhead_s: float = BREAK_EVEN_OVERHEAD_S  # the twin's: boot, billing, idle

    def __post_init__(self) -> None:
        if self.bound_s < 0 or self.overhead_s < 0:
            raise ValueError("bound_s and overhead_s must be >= 0")


@dataclass(frozen=True, slots=True)
class Waiting:
    """A pending pod the scheduler could not place, how long it has waited, and what its
    workload said (``True``/``False`` opted in or out, ``None`` nothing)."""

    pod: Pod
    waited_s: float
    opted: bool | None = None


def to_burst(waiting: Sequence[Waiting], serverless: Offering, rules: BurstRules) -> list[Pod]:
    """The pods to send to the virtual node now: waited at least the bound, opted in (or
    everyone, unless the workload opted out), and hostable on one serverless container."""
    return [
        w.pod
        for w in waiting
        if w.waited_s >= rules.bound_s
        and (rules.everyone if w.opted is None else w.opted)
        and hostable(w.pod, serverless)
    ]


@dataclass(frozen=True, slots=True)
class OnVirtual:
    """A pod running on the virtual node: for how long, the disruption budgets that cover it,
    and the VM nodes it may run on (its node selector matches, their taints tolerated)."""

    pod: Pod
    ran_s: float
    budgets: tuple[str, ...] = ()
    vms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MoveBack:
    """Evict ``pod`` from the virtual node: ``node`` has room for it, or (``None``) it is
    past its break-even of ``break_even_s``."""

    pod: Pod
    node: str | None
    break_even_s: float


def move_back(
    running: Sequence[OnVirtual],
    room: Mapping[str, Resources],
    in_flight: frozenset[str],
    allowed: Mapping[str, int],
    serverless: Offering,
    vms: Sequence[Offering],
    rules: BurstRules,
) -> MoveBack | None:
    """The one pod to move back now, the longest on the virtual node first, or ``None``.

    ``room`` is each VM node's free allocatable; ``in_flight`` the workloads with a replica
    not yet Ready on a node; ``allowed`` each budget's ``disruptionsAllowed``."""
    for entry in sorted(running, key=lambda e: (-e.ran_s, e.pod.name)):
        pod = entry.pod
        if pod.workload in in_flight or any(allowed.get(b, 0) <= 0 for b in entry.budgets):
            continue
        even = break_even_s(pod.requests, serverless, vms, rules.overhead_s)
        node = next((n for n in entry.vms if n in room and _fits(pod.requests, room[n])), None)
        if node is not None or entry.ran_s >= even:
            return MoveBack(pod, node, even)
    return None


def _fits(requests: Resources, free: Resources) -> bool:
    """CPU and memory only: a pod a serverless container can host asks for no GPU."""
    return requests.cpu_milli <= free.cpu_milli and requests.memory_mib <= free.memory_mib
