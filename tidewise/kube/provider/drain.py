"""Emptying a node before it is given back: cordon, then evict every pod.

Why the Eviction API (not deleting pods): it is the one path that honours
PodDisruptionBudgets. A 429 means the budget allows no disruption now; the drain waits and
asks again, so a service never drops below what its budget promises, whatever the
provisioner wants. The cordon is an annotation as well as ``spec.unschedulable``, so that a
provisioner restarted mid-drain finishes what it started (level-triggered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod

log = logging.getLogger(__name__)

DRAINING = "tidewise.io/draining"
"""Annotation on a node being emptied; its value is the reason."""
RETRY_S = 1.0


def evictable(pod: Mapping[str, Any]) -> bool:
    """Pods a drain evicts: not a DaemonSet's (it would come back), not a static pod, alive."""
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or []
    mirror = "kubernetes.io/config.mirror" in (metadata.get("annotations") or {})
    finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    return not (mirror or finished or any(o.get("kind") == "DaemonSet" for o in owners))


async def cordon(client: AsyncClient, node: str, reason: str) -> bool:
    """Mark ``node`` unschedulable and as being drained; ``False`` when it has no Node (a
    machine that never registered: there is nothing to drain)."""
    patch = {"spec": {"unschedulable": True}, "metadata": {"annotations": {DRAINING: reason}}}
    try:
        await client.patch(Node, node, patch)
    except ApiError as error:
        if error.status.code != 404:
            raise
        return False
    return True


async def _evict(client: AsyncClient, pod: Mapping[str, Any]) -> bool:
    """Ask to evict; ``False`` while a disruption budget forbids it (429)."""
    metadata = pod["metadata"]
    eviction = Pod.Eviction(
        metadata=ObjectMeta(name=metadata["name"], namespace=metadata["namespace"])
    )
    try:
        await client.create(eviction, name=metadata["name"], namespace=metadata["namespace"])
    except ApiError as error:
        if error.status.code == 429:
            return False
        if error.status.code != 404:  # 404: already gone
            raise
    return True


async def drain(client: AsyncClient, node: str, reason: str) -> None:
    """Cordon ``node`` and evict its pods within their budgets until none is left (the
    caller then gives the machine back and deletes the Node, in that order, so that no
    process sees a recorded machine without its Node and boots it on)."""
    if not await cordon(client, node, reason):
        log.info("node %s has no Node object: nothing to drain (%s)", node, reason)
        return
    while True:
        pods = [
            p.to_dict()
            async for p in client.list(Pod, namespace="*", fields={"spec.nodeName": node})
        ]
        left = [p for p in pods if evictable(p)]
        if not left:
            break
        refused = 0
        for pod in left:
            if not (pod["metadata"].get("deletionTimestamp") or await _evict(client, pod)):
                refused += 1
        if refused:
            log.info("node %s: %d pods wait for their disruption budgets", node, refused)
        await asyncio.sleep(RETRY_S)
    log.info("node %s drained (%s)", node, reason)


async def delete_node(client: AsyncClient, node: str) -> None:
    """Delete the Node object once its machine is given back (404: already gone)."""
    try:
        await client.delete(Node, node)
    except ApiError as error:
        if error.status.code != 404:
            raise
