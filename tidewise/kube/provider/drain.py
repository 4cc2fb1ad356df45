"""Emptying a node before it is given back: cordon, evict every pod, delete the Node.

Pods leave through the Eviction API (``tidewise.kube.api.eviction``), the one path that
honours PodDisruptionBudgets. A 429 means the budget allows no disruption now; the drain waits
and asks again, so a service never drops below what its budget promises, whatever the
provisioner wants. The cordon is an annotation as well as ``spec.unschedulable``, so that a
provisioner restarted mid-drain finishes what it started (level-triggered).
"""

from __future__ import annotations

import asyncio
import logging

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, Pod

from tidewise.kube.api.eviction import evict, evictable

log = logging.getLogger(__name__)

DRAINING = "tidewise.io/draining"
"""Annotation on a node being emptied; its value is the reason."""
RETRY_S = 1.0


async def cordon(client: AsyncClient, node: str, reason: str) -> None:
    patch = {"spec": {"unschedulable": True}, "metadata": {"annotations": {DRAINING: reason}}}
    await client.patch(Node, node, patch)


async def drain(client: AsyncClient, node: str, reason: str) -> None:
    """Cordon ``node``, evict its pods within their budgets until none is left, delete it."""
    await cordon(client, node, reason)
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
            if not (pod["metadata"].get("deletionTimestamp") or await evict(client, pod)):
                refused += 1
        if refused:
            log.info("node %s: %d pods wait for their disruption budgets", node, refused)
        await asyncio.sleep(RETRY_S)
    try:
        await client.delete(Node, node)
    except ApiError as error:
        if error.status.code != 404:
            raise
    log.info("node %s drained and deleted (%s)", node, reason)
