"""``tidewise operator``: the provisioner and the controllers as one deployable process.

kopf owns the process (login, signals, startup and cleanup); the provisioner and the
controllers run as background tasks that kopf starts and stops. kopf's own peering is off
(standalone): which replica acts is decided by a ``coordination.k8s.io/v1`` Lease instead
(``tidewise.kube.api.lease``). Only the holder of the Lease runs provisioning rounds and
controller passes; the others keep trying to take it. The holder renews every ``renew_s`` (a
third of the Lease's duration), steps down at once when a renewal fails, and releases the
Lease on shutdown.

Drains already started when a holder steps down finish in the background; a successor sees
the draining annotation and resumes them (``Provisioner`` is level-triggered).

This module is where the operator's parts meet: the provisioner (``tidewise.kube.provider``),
the CRD controllers (``tidewise.kube.controllers``) and the training queue
(``tidewise.kube.jobs``) know nothing of each other; each is driven by the controller loop of
``tidewise.kube.api.loop``.

``/healthz`` (200 while the election loop is alive, leader or not) and Prometheus ``/metrics``
are served on one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tidewise.kube.api.lease import LeaseElector
from tidewise.kube.api.loop import Controller, drive
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.controllers.cronhpa import CronHpaController
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.prometheus import Prometheus
from tidewise.kube.controllers.recommendation import RecommendationController
from tidewise.kube.jobs.controller import QueueController
from tidewise.kube.provider import Provisioner
from tidewise.model import Drain, Launch
from tidewise.queue import QueueConfig

log = logging.getLogger(__name__)


class Metrics:
    """The operator's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "tidewise_decisions_applied",
            "Decisions carried out (a launch counts each node).",
            ["kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            "tidewise_errors",
            "Failed provisioning rounds and lease renewals.",
            ["where"],
            registry=self.registry,
        )
        self.round_seconds = Histogram(
            "tidewise_round_seconds",
            "Seconds one provisioning round took.",
            registry=self.registry,
        )
        self.leader = Gauge(
            "tidewise_leader", "1 while this process holds the Lease.", registry=self.registry
        )
        for kind in ("launch", "drain"):
            self.decisions.labels(kind=kind)
        for where in ("round", "lease"):
            self.errors.labels(where=where)


@dataclass
class Operator:
    """Runs ``provisioner`` rounds every ``period_s`` while ``elector`` holds the Lease."""

    provisioner: Provisioner
    elector: LeaseElector
    period_s: float
    metrics: Metrics = field(default_factory=Metrics)
    last_beat: float = field(default_factory=time.monotonic)
    _rounds: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._rounds is not None

    @property
    def renew_s(self) -> float:
        return self.elector.duration_s / 3

    def healthy(self) -> bool:
        return time.monotonic() - self.last_beat < 3 * self.elector.duration_s

    async def one_round(self) -> None:
        start = time.monotonic()
        try:
            for decision in await self.provisioner.reconcile():
                if isinstance(decision, Launch):
                    self.metrics.decisions.labels(kind="launch").inc(decision.count)
                elif isinstance(decision, Drain):
                    self.metrics.decisions.labels(kind="drain").inc()
        except Exception:
            self.metrics.errors.labels(where="round").inc()
            log.exception("provisioning round failed")
        finally:
            self.metrics.round_seconds.observe(time.monotonic() - start)

    async def rounds(self) -> None:
        await self.provisioner.rounds(self.period_s, self.one_round)

    async def elect(self) -> None:
        """Acquire or renew every ``renew_s``; start rounds when leading, stop them when not."""
        try:
            while True:
                try:
                    leading = await self.elector.acquire_or_renew()
                except Exception:
                    self.metrics.errors.labels(where="lease").inc()
                    log.exception("lease renewal failed")
                    leading = False
                self.last_beat = time.monotonic()
                self.metrics.leader.set(1 if leading else 0)
                if leading and self._rounds is None:
                    log.info("leading as %s: provisioning", self.elector.identity)
                    self._rounds = asyncio.create_task(self.rounds())
                elif not leading and self._rounds is not None:
                    log.info("not leading: provisioning stopped")
                    await self._stop_rounds()
                await asyncio.sleep(self.renew_s)
        finally:
            was_leading = self._rounds is not None
            await self._stop_rounds()
            if was_leading:
                with contextlib.suppress(Exception):
                    await self.elector.release()

    async def _stop_rounds(self) -> None:
        if self._rounds is not None:
            self._rounds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rounds
            self._rounds = None

    async def serve_health(self, host: str, port: int) -> web.AppRunner:
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(status=200 if self.healthy() else 503, text="ok\n")

        async def metrics(_: web.Request) -> web.Response:
            body = generate_latest(self.metrics.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner


@dataclass(frozen=True)
class ControllerSettings:
    """What ``tidewise operator``'s options say about the controllers it runs."""

    prometheus_url: str | None = None  # default for ElasticScalers that name none
    # the other Prometheus endpoints objects may select by name (spec.prometheus.endpoint);
    # an object can make the operator query nothing else
    prometheus_endpoints: Mapping[str, str] = field(default_factory=dict)
    cron_period_s: float = 1.0  # object re-listing; firings wake the loop on their second
    elastic_period_s: float = 15.0  # the HPA's sync period
    recommend_period_s: float = 60.0  # VPA's recommender samples once a minute
    # the training queue (tidewise/kube/jobs): off unless asked, as it admits every Job with
    # Kueue's queue label and must not run beside Kueue
    training_queue: bool = False
    queue_period_s: float = 5.0
    queues: tuple[QueueConfig, ...] | None = None  # None: one default queue of every GPU
    # each autoscaling controller can be left out (the operator's configuration says which)
    cronhpa: bool = True
    elasticscaler: bool = True
    resourcerecommendation: bool = True


def register_controllers(handlers: kopf.OperatorRegistry, settings: ControllerSettings) -> None:
    """Start the controllers with the operator (after its own startup handler has put the
    ``Operator`` in the memo), each driven while the operator leads; stop them at cleanup."""

    @kopf.on.startup(registry=handlers)
    async def start_controllers(memo: kopf.Memo, **_: Any) -> None:
        operator = memo.get("operator")
        if operator is None:
            raise kopf.TemporaryError("waiting for the operator to start", delay=1)
        client = operator.elector.client
        metrics = ControllerMetrics(operator.metrics.registry)
        prometheus = Prometheus(settings.prometheus_url, settings.prometheus_endpoints)
        controllers: list[Controller] = []
        if settings.cronhpa:
            controllers.append(CronHpaController(client, metrics, settings.cron_period_s))
        if settings.elasticscaler:
            controllers.append(
                ElasticScalerController(client, metrics, prometheus, settings.elastic_period_s)
            )
        if settings.resourcerecommendation:
            controllers.append(
                RecommendationController(client, metrics, prometheus, settings.recommend_period_s)
            )
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


def registry(
    make: Callable[[], Operator],
    health_host: str,
    health_port: int,
    kubeconfig: bool,
    controllers: ControllerSettings | None = None,
) -> kopf.OperatorRegistry:
    """kopf handlers: log in (the kubeconfig in ``$KUBECONFIG`` when ``kubeconfig``, else the
    pod's service account), turn peering off, and start/stop the operator's tasks."""
    handlers = kopf.OperatorRegistry()

    @kopf.on.login(registry=handlers)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if kubeconfig:
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs)

    @kopf.on.startup(registry=handlers)
    async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        settings.peering.standalone = True  # the Lease elects, not kopf's peering
        settings.posting.enabled = False  # no k8s events for the operator's own log lines
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per API request
        operator = make()
        memo.operator = operator
        memo.health = await operator.serve_health(health_host, health_port)
        memo.election = asyncio.create_task(operator.elect())
        log.info("health and metrics on %s:%d", health_host, health_port)

    @kopf.on.cleanup(registry=handlers)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        memo.election.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await memo.election
        await memo.health.cleanup()

    if controllers is not None:  # the CRD controllers, and the training queue if asked
        register_controllers(handlers, controllers)
    return handlers


def run_operator(
    make: Callable[[], Operator],
    health_host: str,
    health_port: int,
    kubeconfig: bool,
    controllers: ControllerSettings | None = None,
) -> None:
    """Run kopf with the operator's handlers until SIGINT/SIGTERM."""
    handlers = registry(make, health_host, health_port, kubeconfig, controllers)
    asyncio.run(kopf.operator(registry=handlers, standalone=True, clusterwide=True))
