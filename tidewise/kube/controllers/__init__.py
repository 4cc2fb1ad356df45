"""Controllers for the autoscaling custom resources, run inside ``tidewise operator``.

``CronHorizontalPodAutoscaler`` (the Alibaba CronHPA format, unchanged), ``ElasticScaler``
(tidewise's combined policy) and ``ResourceRecommendation`` (right-sized requests) each run
as a level-triggered loop in the operator process. Only the holder of the operator's Lease
acts, as for the provisioner: a standby keeps no schedule and writes nothing, and a replica
that loses the Lease forgets its in-memory state, so whoever leads next resumes from the
objects' status. docs/controllers.md has the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import kopf
from lightkube.core.exceptions import ApiError

from tidewise.kube.controllers.cronhpa import CronHpaController
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.metrics import ControllerMetrics
from tidewise.kube.controllers.prometheus import Prometheus
from tidewise.kube.controllers.recommendation import RecommendationController
from tidewise.kube.jobs.controller import QueueController
from tidewise.queue import QueueConfig

log = logging.getLogger(__name__)

STANDBY_POLL_S = 0.5
MIN_SLEEP_S = 0.01
CRD_MISSING_POLL_S = 10.0


@dataclass(frozen=True)
class ControllerSettings:
    prometheus_url: str | None = None  # default for ElasticScalers that name none
    cron_period_s: float = 1.0  # object re-listing; firings wake the loop on their second
    elastic_period_s: float = 15.0  # the HPA's sync period
    recommend_period_s: float = 60.0  # VPA's recommender samples once a minute
    # the training queue (tidewise/kube/jobs): off unless asked, as it admits every Job with
    # Kueue's queue label and must not run beside Kueue
    training_queue: bool = False
    queue_period_s: float = 5.0
    queues: tuple[QueueConfig, ...] | None = None  # None: one default queue of every GPU


class Controller(Protocol):
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


def register_controllers(handlers: kopf.OperatorRegistry, settings: ControllerSettings) -> None:
    """Start the controllers with the operator (after its own startup handler has put the
    ``Operator`` in the memo) and stop them at cleanup."""

    @kopf.on.startup(registry=handlers)
    async def start_controllers(memo: kopf.Memo, **_: Any) -> None:
        operator = memo.get("operator")
        if operator is None:
            raise kopf.TemporaryError("waiting for the operator to start", delay=1)
        client = operator.elector.client
        metrics = ControllerMetrics(operator.metrics.registry)
        prometheus = Prometheus(settings.prometheus_url)
        controllers: list[Controller] = [
            CronHpaController(client, metrics, settings.cron_period_s),
            ElasticScalerController(client, metrics, prometheus, settings.elastic_period_s),
            RecommendationController(client, metrics, prometheus, settings.recommend_period_s),
        ]
        if settings.training_queue:
            queue = QueueController(
                client, settings.queues, period_s=settings.queue_period_s, metrics=metrics
            )
            controllers.append(queue)
        memo.prometheus = prometheus
        memo.controller_tasks = [
            asyncio.create_task(drive(c, lambda: operator.leading, metrics)) for c in controllers
        ]
        log.info("controllers started: %s", ", ".join(c.name for c in controllers))

    @kopf.on.cleanup(registry=handlers)
    async def stop_controllers(memo: kopf.Memo, **_: Any) -> None:
        for task in memo.get("controller_tasks", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if memo.get("prometheus") is not None:
            await memo.prometheus.close()
