"""Which pods a drain evicts, which keep their node from a voluntary scale-down, and which
are stuck terminating.

The rules are cluster-autoscaler's (``cluster-autoscaler/utils/drain``: a pod with no
controller, a pod with local storage, ``cluster-autoscaler.kubernetes.io/safe-to-evict:
"false"``; ``safe-to-evict: "true"`` lifts the first two, and
``safe-to-evict-local-volumes: "a,b"`` names local volumes that may be lost) and Karpenter's
(``karpenter.sh/do-not-disrupt: "true"``): a pod nobody would recreate, or whose local data
would be lost, or that asks not to be disturbed, must not be evicted to save money. They hold
for *voluntary* disruption only (scale-down, consolidation); a reclaim or a failed node takes
the machine whatever its pods say. A pod whose grace period ended more than a minute ago is
on a node that will never finish it (Karpenter's ``IsStuckTerminating``): a drain does not
wait for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidewise.kube.api.eviction import evictable
from tidewise.kube.api.status import unix_s

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SAFE_LOCAL_VOLUMES = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"
MIRROR = "kubernetes.io/config.mirror"
STUCK_AFTER_S = 60.0  # past its deletionTimestamp (the end of its grace period)


def _meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return pod.get("metadata") or {}


def _local_volumes(pod: Mapping[str, Any]) -> list[str]:
    """hostPath volumes, and emptyDir ones not held in memory (cluster-autoscaler's rule)."""
    local = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        empty_dir = volume.get("emptyDir")
        on_disk = empty_dir is not None and empty_dir.get("medium") != "Memory"
        if volume.get("hostPath") is not None or on_disk:
            local.append(volume.get("name", ""))
    return local


def blocks_scale_down(pod: Mapping[str, Any]) -> str | None:
    """Why ``pod`` keeps its node from voluntary disruption (``None``: it does not)."""
    if not evictable(pod):
        return None
    annotations = _meta(pod).get("annotations") or {}
    if annotations.get(DO_NOT_DISRUPT) == "true":
        return f"is annotated {DO_NOT_DISRUPT}"
    safe = annotations.get(SAFE_TO_EVICT)
    if safe == "false":
        return f'is annotated {SAFE_TO_EVICT}: "false"'
    if safe == "true":
        return None
    owners = _meta(pod).get("ownerReferences") or []
    if not any(o.get("controller") for o in owners):
        return "has no controller to recreate it"
    allowed = {v.strip() for v in annotations.get(SAFE_LOCAL_VOLUMES, "").split(",")}
    kept = [v for v in _local_volumes(pod) if v not in allowed]
    if kept:
        return f"has local storage ({', '.join(kept)})"
    return None


def terminating(pod: Mapping[str, Any]) -> bool:
    return _meta(pod).get("deletionTimestamp") is not None


def stuck_terminating(pod: Mapping[str, Any], now_s: float) -> bool:
    """Deleted, and its grace period over for more than :data:`STUCK_AFTER_S`."""
    ends = unix_s(_meta(pod).get("deletionTimestamp"))
    return ends is not None and now_s > ends + STUCK_AFTER_S
