"""What makes a pod batch work, and a batch pod in the terms of the reclaim rule.

The model is Koordinator's (as ACK documents its ack-koordinator; docs/colocation.md cites
it): a node's reclaimable capacity is published beside its native resources as extended
resources, ``kubernetes.io/batch-cpu`` and ``kubernetes.io/batch-memory``, and only batch pods
request them. tidewise's default names are in its own domain (``tidewise.io/batch-cpu``,
``tidewise.io/batch-memory``) so that they never clash with a Koordinator installed beside it;
:class:`BatchNames` sets Koordinator's. The units are tidewise's: milli-CPU as an integer
count (``1500`` is 1.5 cores) and bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.capacity.reclaim import BatchPod
from tidewise.kube.api.resources import has_finished, pod_requests
from tidewise.kube.api.status import unix_s
from tidewise.model import Resources

QOS = "tidewise.io/qos"
"""The pod label that makes a pod batch work (value ``batch``): the webhook's
``objectSelector`` and the controller select on it (an annotation cannot be selected)."""
BATCH = "batch"
CHECKPOINTABLE = "tidewise.io/checkpointable"
"""The pod annotation (``"true"``) of batch work that saves its progress: evicted first, as
it loses only the work since its last checkpoint."""
MIB = 2**20


@dataclass(frozen=True)
class BatchNames:
    """The extended resource names of the batch resources: CPU in milli-CPU, memory in
    bytes."""

    cpu: str = "tidewise.io/batch-cpu"
    memory: str = "tidewise.io/batch-memory"

    def quantities(self, lent: Resources) -> dict[str, str]:
        """``lent`` as the node status quantities of these names."""
        return {self.cpu: str(lent.cpu_milli), self.memory: str(lent.memory_mib * MIB)}


def is_batch(pod: Mapping[str, Any]) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(QOS) == BATCH


def is_live(pod: Mapping[str, Any]) -> bool:
    """Placed on a node and not finished: it holds (or uses) part of that node."""
    return bool((pod.get("spec") or {}).get("nodeName")) and not has_finished(pod)


def batch_pod(pod: Mapping[str, Any], names: BatchNames) -> BatchPod:
    """A batch pod as the eviction rule orders it: its batch requests, its start (its
    creation while it has not started) and whether it checkpoints."""
    meta = pod.get("metadata") or {}
    asks = pod_requests(pod, (names.cpu, names.memory))
    requests = Resources(
        cpu_milli=math.ceil(asks.get(names.cpu, 0)),
        memory_mib=math.ceil(asks.get(names.memory, 0) / MIB),
    )
    status = pod.get("status") or {}
    started = unix_s(status.get("startTime")) or unix_s(meta.get("creationTimestamp")) or 0.0
    checkpointable = (meta.get("annotations") or {}).get(CHECKPOINTABLE) == "true"
    return BatchPod(f"{meta['namespace']}/{meta['name']}", requests, started, checkpointable)
