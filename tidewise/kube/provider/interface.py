"""The provider interface: what a cloud adapter implements so the provisioner can buy nodes.

Why so small: the provisioner decides what to buy (the capacity policies) and how to empty a
node (cordon, the Eviction API); a provider only turns an offering into a machine that
registers as a Node, gives it back, says what it holds, and relays the cloud's interruption
notices. Everything Kubernetes-side stays in one place, whatever the cloud.

Names are the contract: the machine registers a Node whose ``metadata.name`` is the name
``launch`` returned, labelled with :data:`INSTANCE_TYPE`, :data:`ZONE`, :data:`CAPACITY_TYPE`
and ``PROVISIONER`` (the provider's name), so that a provisioner restarted from scratch finds
its nodes again from the API alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# the node labels a provider writes, named where every component reads them
from tidewise.kube.api.labels import CAPACITY_TYPE as CAPACITY_TYPE
from tidewise.kube.api.labels import INSTANCE_TYPE as INSTANCE_TYPE
from tidewise.kube.api.labels import ZONE as ZONE
from tidewise.model import Offering

PROVISIONER = "tidewise.io/provisioner"


@dataclass(frozen=True, slots=True)
class Instance:
    """A machine the provider holds, booting or registered; ``launched_s`` is Unix time.
    ``error`` says why a launch failed for good (the cloud refused it, the machine could not
    register): the provisioner then gives the machine back and backs the offering off."""

    name: str
    offering: Offering
    launched_s: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InterruptionNotice:
    """The cloud will take ``node`` back at ``deadline_s`` (Unix time): drain it now."""

    node: str
    deadline_s: float


class NodeProvider(Protocol):
    """A cloud (or kwok) as the provisioner sees it.

    ``labels`` and ``taints`` are what every node of this provider carries (the taints as
    ``(key, value, effect)``): the provisioner buys only for pending pods that select no other
    label and tolerate those taints, since nothing it launches could run any other pod.
    """

    name: str

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def taints(self) -> Sequence[tuple[str, str, str]]: ...

    async def launch(self, offering: Offering) -> str:
        """Start buying a machine of ``offering``; the name its Node will register under."""
        ...

    async def terminate(self, name: str) -> None:
        """Give the machine back (idempotent: an unknown name is already gone)."""
        ...

    async def list(self) -> Sequence[Instance]:
        """Every machine held, including those still booting and those whose launch failed
        (with ``error``), until they are terminated."""
        ...

    async def notices(self) -> Sequence[InterruptionNotice]:
        """Interruption notices in force (a spot reclaim announced, a scheduled retirement)."""
        ...
