"""One pass of a controller over every object of its kind, the same for all three: each
object reconciled in its own ``try`` (one bad object must never stop the others), its time
and failures counted, and the memory of deleted objects dropped."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lightkube import AsyncClient

from tidewise.kube.controllers.metrics import ControllerMetrics

log = logging.getLogger(__name__)


async def reconcile_all(
    name: str,
    resource: Any,
    client: AsyncClient,
    metrics: ControllerMetrics,
    tracked: MutableMapping[str, Any],
    reconcile: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """List every ``resource`` object, forget the ``tracked`` state of vanished ones (keyed
    by uid), and ``reconcile`` each."""
    objects = [o.to_dict() async for o in client.list(resource, namespace="*")]
    metrics.objects.labels(controller=name).set(len(objects))
    for uid in set(tracked) - {o["metadata"]["uid"] for o in objects}:
        del tracked[uid]
    for obj in objects:
        start = time.monotonic()
        try:
            await reconcile(obj)
        except Exception as error:  # one object must never stop the others
            metrics.errors.labels(controller=name, reason=type(error).__name__).inc()
            meta = obj["metadata"]
            log.exception("%s %s/%s: reconcile failed", name, meta["namespace"], meta["name"])
        finally:
            metrics.reconcile_seconds.labels(controller=name).observe(time.monotonic() - start)
