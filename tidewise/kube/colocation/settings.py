"""What ``tidewise operator`` needs to run co-location (the ``colocation`` section of its
configuration, docs/colocation.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tidewise.capacity.reclaim import ReclaimRule
from tidewise.kube.colocation.batch import BatchNames
from tidewise.kube.colocation.usage import CPU_QUERY, MEMORY_QUERY


@dataclass(frozen=True)
class ColocationSettings:
    """The Prometheus the usage is read from and its queries, the reclaim rule and the peak's
    window, the batch resource names and PriorityClass, the webhook's address and
    certificate, and the controller's period."""

    prometheus_url: str
    cert: Path
    key: Path
    host: str = "0.0.0.0"
    port: int = 9444
    names: BatchNames = field(default_factory=BatchNames)
    rule: ReclaimRule = field(default_factory=ReclaimRule)
    window_s: float = 1800.0
    cpu_query: str = CPU_QUERY
    memory_query: str = MEMORY_QUERY
    priority_class: str = "tidewise-batch"
    period_s: float = 10.0
    change: float = 0.1  # a change of the lent capacity past this share is told in an Event
