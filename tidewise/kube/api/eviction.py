"""Evicting a pod through the Eviction API, shared by the drains and the defragmenter.

Why the Eviction API (not deleting pods): it is the one path that honours
PodDisruptionBudgets. The API server checks the budget when the eviction is asked, so a
caller that planned within ``disruptionsAllowed`` is still refused (429) if the budget
changed meanwhile: the budget, not the plan, has the last word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from tidewise.kube.api.resources import has_finished

MIRROR = "kubernetes.io/config.mirror"
"""The annotation of a static pod's mirror: the kubelet owns it, an eviction cannot take it."""


def evictable(pod: Mapping[str, Any]) -> bool:
    """Pods an eviction may take: not a DaemonSet's (it would come back), not a static pod,
    alive."""
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or []
    mirror = MIRROR in (metadata.get("annotations") or {})
    return not (mirror or has_finished(pod) or any(o.get("kind") == "DaemonSet" for o in owners))


async def evict(client: AsyncClient, pod: Mapping[str, Any]) -> bool:
    """Ask to evict; ``False`` while a disruption budget forbids it (429); ``True`` also
    when the pod is already gone (404)."""
    metadata = pod["metadata"]
    eviction = Pod.Eviction(
        metadata=ObjectMeta(name=metadata["name"], namespace=metadata["namespace"])
    )
    try:
        await client.create(eviction, name=metadata["name"], namespace=metadata["namespace"])
    except ApiError as error:
        if error.status.code == 429:
            return False
        if error.status.code != 404:
            raise
    return True
