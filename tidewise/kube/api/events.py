"""Kubernetes Events about what a component does, where ``kubectl describe`` shows them.

Why Events: a user whose pod waits asks the pod, not the operator's log; cluster-autoscaler
answers there (``TriggeredScaleUp`` on the pod, ``ScaleDown`` on the node), and so do the
provisioner, the controllers and the training queue, each naming itself as the reporting
component. Events are best effort: a failure to post one is logged and never stops the work
it reports (a launch, a drain, a rescale, an admission).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

log = logging.getLogger(__name__)

NODE_EVENTS_NAMESPACE = "default"  # where the kubelet and cluster-autoscaler put node events


def event(
    kind: str,
    name: str,
    namespace: str | None,
    reason: str,
    message: str,
    warning: bool = False,
    api_version: str = "v1",
    *,
    component: str,
    uid: str | None = None,
) -> Event:
    """A core/v1 Event about one object (a Node when ``namespace`` is ``None``), reported by
    ``component``; with the object's ``uid``, ``kubectl describe`` of the object shows it (it
    selects events by the uid when it has one)."""
    now = datetime.datetime.now(datetime.UTC)
    where = namespace or NODE_EVENTS_NAMESPACE
    reference = ObjectReference(
        apiVersion=api_version, kind=kind, name=name, namespace=namespace, uid=uid
    )
    return Event(
        metadata=ObjectMeta(name=f"{name}.{uuid.uuid4().hex[:16]}", namespace=where),
        involvedObject=reference,
        reason=reason,
        message=message,
        type="Warning" if warning else "Normal",
        source=EventSource(component=component),
        reportingComponent=component,
        firstTimestamp=now,
        lastTimestamp=now,
        count=1,
    )


async def record(client: AsyncClient, posted: Event) -> None:
    """Post ``posted``; log, never raise, when the API refuses it."""
    try:
        await client.create(posted)
    except Exception as error:
        reference = posted.involvedObject
        log.warning(
            "event %s on %s %s not posted: %s", posted.reason, reference.kind, reference.name, error
        )


async def tell(
    client: AsyncClient,
    obj: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    component: str,
    warning: bool = False,
) -> None:
    """An Event about an API object read as a dict (a custom resource, a Job), reported by
    ``component``; never raises."""
    meta = obj["metadata"]
    told = event(
        obj.get("kind", ""),
        meta["name"],
        meta["namespace"],
        reason,
        message,
        warning,
        api_version=obj.get("apiVersion", ""),
        component=component,
    )
    await record(client, told)
