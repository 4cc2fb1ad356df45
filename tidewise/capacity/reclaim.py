"""Co-location: how much of the online pods' idle request a node lends to batch work, and
which batch pods give it back when online load rises.

Online pods request for their peak and use far less most of the day; that gap is paid for and
idle. Borg reclaims it (Verma et al., "Large-scale cluster management at Google with Borg",
EuroSys 2015, section 5.5: a reservation estimated from usage plus a safety margin, the rest
lent to non-production work), and Koordinator publishes it on each node as batch resources
(``kubernetes.io/batch-cpu``, ``kubernetes.io/batch-memory``) that only batch pods request.
This module is the rule both the twin and the cluster controller apply; neither has its own.

The rule, per node and per resource (CPU and memory alike)::

    reference   = max(recent peak of online usage, forecast of online usage)
    reclaimable = max(0, online requests - reference * (1 + margin))

so batch work only ever gets what online pods asked for and are not expected to use, with a
margin kept for them. Given the node's ``allocatable``, the rule lends from that instead of
the online requests: what no online pod asked for is lent too, as Koordinator's default
batch allocatable does (node total minus online usage), and taken back the same way once
online pods scheduled there use it.

Eviction uses a smaller margin than lending (``evict_margin``): a node lends up to
``usage * (1 + margin)`` below the requests but only takes back when usage comes within
``usage * (1 + evict_margin)``, so a small rise in online load does not evict a batch pod
that was just admitted (the hysteresis every kubelet eviction threshold has).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil

from tidewise.model import Resources


@dataclass(frozen=True, slots=True)
class ReclaimRule:
    """The margins online pods keep above their usage, as fractions of that usage."""

    margin: float = 0.25
    evict_margin: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.evict_margin <= self.margin:
            raise ValueError(
                f"evict_margin must be between 0 and margin ({self.margin}), "
                f"got {self.evict_margin}"
            )


@dataclass(frozen=True, slots=True)
class BatchPod:
    """A batch pod on a node, as eviction needs it: its batch requests and its age."""

    name: str
    requests: Resources
    started_s: float
    checkpointable: bool = False


def reclaimable(
    online_requested: Resources,
    usage_peak: Resources,
    rule: ReclaimRule,
    forecast: Resources | None = None,
    *,
    allocatable: Resources | None = None,
) -> Resources:
    """The CPU and memory a node lends to batch pods (GPUs are never lent here); from its
    ``allocatable`` where given, else from the online requests."""
    base = online_requested if allocatable is None else allocatable
    return _headroom(base, _reference(usage_peak, forecast), rule.margin)


def evictions(
    online_requested: Resources,
    usage_now: Resources,
    batch: Sequence[BatchPod],
    rule: ReclaimRule,
    *,
    allocatable: Resources | None = None,
) -> list[BatchPod]:
    """The batch pods to evict so the rest fit under the online pods' current need.

    Checkpointable pods go first (they lose only the work since their last checkpoint), then
    the newest (they have done the least); within that order pods are taken until what is
    left fits in both CPU and memory. An empty list when everything still fits. With the
    node's ``allocatable``, the room is taken from it, as :func:`reclaimable` lends it.
    """
    base = online_requested if allocatable is None else allocatable
    room = _headroom(base, usage_now, rule.evict_margin)
    cpu = sum(pod.requests.cpu_milli for pod in batch)
    memory = sum(pod.requests.memory_mib for pod in batch)
    chosen: list[BatchPod] = []
    for pod in sorted(batch, key=lambda p: (not p.checkpointable, -p.started_s, p.name)):
        if cpu <= room.cpu_milli and memory <= room.memory_mib:
            break
        chosen.append(pod)
        cpu -= pod.requests.cpu_milli
        memory -= pod.requests.memory_mib
    return chosen


def _reference(peak: Resources, forecast: Resources | None) -> Resources:
    if forecast is None:
        return peak
    return Resources(
        cpu_milli=max(peak.cpu_milli, forecast.cpu_milli),
        memory_mib=max(peak.memory_mib, forecast.memory_mib),
    )


def _headroom(requested: Resources, usage: Resources, margin: float) -> Resources:
    return Resources(
        cpu_milli=max(0, requested.cpu_milli - _kept(usage.cpu_milli, margin)),
        memory_mib=max(0, requested.memory_mib - _kept(usage.memory_mib, margin)),
    )


def _kept(usage: int, margin: float) -> int:
    """Usage with its margin, rounded up: a lent milli-CPU is never one the margin needed."""
    return ceil(round(usage * (1 + margin), 6))
