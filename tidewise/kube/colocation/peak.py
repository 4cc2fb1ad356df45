"""The recent peak of a node's online usage, kept on the Node as an annotation.

Why on the Node: the peak is what the lent capacity is measured against; an operator that
restarts (or a new leader) with an empty memory would lend the gap again at the first quiet
sample, just after online load peaked. The peak is the maximum of fixed buckets (a sixth of
the window each), so the annotation stays a few short lines however often the controller
samples, and a peak leaves the window at most a bucket late.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from tidewise.model import Resources

ANNOTATION = "tidewise.io/online-usage-peak"
BUCKETS = 6


@dataclass(frozen=True)
class Bucket:
    start_s: float
    cpu_milli: int
    memory_mib: int


@dataclass(frozen=True)
class UsagePeak:
    """The maxima of the buckets still within the window."""

    buckets: tuple[Bucket, ...] = ()

    @property
    def peak(self) -> Resources:
        return Resources(
            cpu_milli=max((b.cpu_milli for b in self.buckets), default=0),
            memory_mib=max((b.memory_mib for b in self.buckets), default=0),
        )

    def sampled(self, at_s: float, usage: Resources, window_s: float) -> UsagePeak:
        """With ``usage`` seen at ``at_s``: its bucket raised, the buckets wholly older than
        the window dropped."""
        width = window_s / BUCKETS
        start = math.floor(at_s / width) * width
        # a bucket stays until its last instant is a window old: a peak leaves late, never early
        since = at_s - window_s
        kept = [b for b in self.buckets if b.start_s + width > since and b.start_s != start]
        own = next((b for b in self.buckets if b.start_s == start), None)
        cpu = max(usage.cpu_milli, own.cpu_milli if own else 0)
        memory = max(usage.memory_mib, own.memory_mib if own else 0)
        kept.append(Bucket(start, cpu, memory))
        return UsagePeak(tuple(sorted(kept, key=lambda b: b.start_s)))

    def text(self) -> str:
        return json.dumps([[b.start_s, b.cpu_milli, b.memory_mib] for b in self.buckets])


def read_peak(annotations: Mapping[str, str]) -> UsagePeak:
    """The peak a Node's annotations hold; none when absent or unreadable (hand-edited): the
    next sample starts it again."""
    try:
        rows = json.loads(annotations.get(ANNOTATION, "[]"))
        return UsagePeak(tuple(Bucket(float(s), int(c), int(m)) for s, c, m in rows))
    except (ValueError, TypeError):
        return UsagePeak()
