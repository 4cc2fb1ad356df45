"""The controller loop every controller runs in: the contract a controller keeps, the loop
that syncs it while this replica leads, and one pass over every object of a kind.

Why one loop for all: the CronHPA, ElasticScaler and ResourceRecommendation controllers and
the training queue must behave alike when leadership moves (a standby writes nothing and a
replica that loses the Lease forgets its in-memory state, so whoever leads next resumes from
the objects' status), when their CRD is not installed (one warning, then a slow retry), and
when one object is bad (it never stops the others).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError

from tidewise.kube.api.metrics import ControllerMetrics

log = logging.getLogger(__name__)

STANDBY_POLL_S = 0.5
MIN_SLEEP_S = 0.01
CRD_MISSING_POLL_S = 10.0


class Controller(Protocol):
    """One level-triggered controller: ``sync`` does a pass and says how long to wait for the
    next; ``forget`` drops the in-memory state when leadership ends."""

    name: str
    period_s: float

    async def sync(self) -> float: ...

    def forget(self) -> None: ...


async def drive(
    controller: Controller, leading: Callable[[], bool], metrics: ControllerMetrics
) -> None:
    """Sync ``controller`` while ``leading()``; forget its state whenever leadership ends."""
    led = missing = False
    while True:
        if not leading():
            if led:
                controller.forget()
                led = False
            await asyncio.sleep(STANDBY_POLL_S)
            continue
        led = True
        try:
            wait, missing = await controller.sync(), False
        except Exception as error:  # e.g. the API server is down: try again next period
            wait = controller.period_s
            if isinstance(error, ApiError) and error.status.code == 404:
                if not missing:
                    log.warning("%s: its CRD is not installed (deploy/crds)", controller.name)
                missing, wait = True, CRD_MISSING_POLL_S
            else:
                metrics.errors.labels(controller=controller.name, reason=type(error).__name__).inc()
                log.exception("%s: sync failed", controller.name)
        await asyncio.sleep(max(wait, MIN_SLEEP_S))


async def reconcile_all(
    name: str,
    resource: Any,
    client: AsyncClient,
    metrics: ControllerMetrics,
    tracked: MutableMapping[str, Any],
    reconcile: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """One pass of a controller over every ``resource`` object: forget the ``tracked`` state
    of vanished ones (keyed by uid), and ``reconcile`` each in its own ``try`` (one bad object
    must never stop the others), its time and failures counted."""
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
