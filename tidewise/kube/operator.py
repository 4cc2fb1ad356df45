"""``tidewise operator``: the provisioner and the controllers as one deployable process.

kopf owns the process (login, signals, startup and cleanup); the provisioner and the
controllers run as background tasks that kopf starts and stops. kopf's own peering is off
(standalone): which replica acts is decided by a ``coordination.k8s.io/v1`` Lease instead
(``tidewise.kube.api.lease``). Only the holder of the Lease runs provisioning rounds and
controller passes; the others keep trying to take it. The election is client-go's (local
observed time, a renew deadline, step down when another holder shows; see the elector's
module), and the holder releases the Lease on shutdown.

Drains already started when a holder steps down finish in the background; a successor sees
the draining annotation and resumes them (``Provisioner`` is level-triggered).

This module is where the operator's parts meet: the provisioner (``tidewise.kube.provider``),
the CRD controllers (``tidewise.kube.controllers``) and the training queue
(``tidewise.kube.jobs``) know nothing of each other; each is driven by the controller loop of
``tidewise.kube.api.loop``.

``/healthz`` (200 while the election loop is alive, leader or not, and a leader's provisioning
rounds complete) and Prometheus ``/metrics`` are served on one port.
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

from tidewise.capacity.karpenter import KarpenterPolicy
from tidewise.catalog import Catalog
from tidewise.kube.api.lease import LeaseElector
from tidewise.kube.api.loop import Controller, drive
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.colocation.controller import ColocationController
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.kube.colocation.webhook import serve as serve_colocation
from tidewise.kube.controllers.cronhpa import CronHpaController
from tidewise.kube.controllers.defrag import DefragController
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.karpenter import KarpenterController
from tidewise.kube.controllers.prometheus import Prometheus
from tidewise.kube.controllers.recommendation import RecommendationController
from tidewise.kube.controllers.serverless_burst import (
    ServerlessBurstController,
    ServerlessBurstSettings,
)
from tidewise.kube.cost import CostExporter
from tidewise.kube.jobs.controller import QueueController
from tidewise.kube.ondemand.reconciler import BaseReconciler
from tidewise.kube.ondemand.server import WebhookSettings, serve
from tidewise.kube.provider import Provisioner
from tidewise.kube.provider.metrics import ProvisionerMetrics
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
        self.round_completed = Gauge(
            "tidewise_round_completed_timestamp_seconds",
            "Unix time the last provisioning round completed (0: none yet).",
            registry=self.registry,
        )
        self.provisioner = ProvisionerMetrics(self.registry)
        self.leader = Gauge(
            "tidewise_leader", "1 while this process holds the Lease.", registry=self.registry
        )
        self.leadership = Counter(
            "tidewise_leadership_changes",
            "Times this process started leading (acquired) or stopped (lost: renewals failed "
            "past the renew deadline, or another holder was seen in the Lease).",
            ["change"],
            registry=self.registry,
        )
        for kind in ("launch", "drain"):
            self.decisions.labels(kind=kind)
        for where in ("round", "lease"):
            self.errors.labels(where=where)
        for change in ("acquired", "lost"):
            self.leadership.labels(change=change)


@dataclass
class Operator:
    """Runs provisioning rounds every ``period_s`` while ``elector`` holds the Lease.

    A provisioner is built afresh (``make_provisioner``) each time this replica starts
    leading, so nothing a previous term remembered (timers, backoffs) outlives the Lease: the
    next term starts from the API, as every controller of ``api.loop`` does. ``None`` runs no
    provisioner (the controllers only).
    """

    make_provisioner: Callable[[ProvisionerMetrics], Provisioner] | None
    elector: LeaseElector
    period_s: float
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.monotonic
    stuck_periods: int = 10  # no round completed for this many periods: unhealthy
    last_beat: float = field(default_factory=time.monotonic)
    _leading: bool = False
    _leading_since: float = 0.0
    _last_round: float = float("-inf")
    _rounds: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._leading

    def healthy(self) -> bool:
        """The election loop beats, and a leader's provisioning rounds complete: no round
        completed for ``stuck_periods`` periods means a stuck loop (a hung call, a failure
        every round), which a restart may cure; cluster-autoscaler's ``/health-check`` fails
        the same way when its loop stops succeeding."""
        now = self.clock()
        if now - self.last_beat >= 3 * self.elector.duration_s:
            return False
        if self._rounds is None:
            return True
        since = max(self._last_round, self._leading_since)
        return now - since <= self.stuck_periods * self.period_s

    async def one_round(self, provisioner: Provisioner) -> None:
        start = time.monotonic()
        try:
            for decision in await provisioner.reconcile():
                if isinstance(decision, Launch):
                    self.metrics.decisions.labels(kind="launch").inc(decision.count)
                elif isinstance(decision, Drain):
                    self.metrics.decisions.labels(kind="drain").inc()
            self._last_round = self.clock()
            self.metrics.round_completed.set_to_current_time()
        except Exception:
            self.metrics.errors.labels(where="round").inc()
            log.exception("provisioning round failed")
        finally:
            self.metrics.round_seconds.observe(time.monotonic() - start)

    async def rounds(self, provisioner: Provisioner) -> None:
        await provisioner.rounds(self.period_s, lambda: self.one_round(provisioner))

    async def elect(self) -> None:
        """Try to acquire or renew every retry period; lead while the elector says so (the
        Lease names this replica and was renewed within the renew deadline), stop at once
        when it does not; release the Lease on the way out."""
        elector = self.elector
        attempt_s = elector.renew_deadline_s - elector.retry_s  # a hung request ends in time
        try:
            while True:
                try:
                    await asyncio.wait_for(elector.try_acquire_or_renew(), attempt_s)
                except Exception as error:
                    self.metrics.errors.labels(where="lease").inc()
                    log.warning("lease renewal failed: %s", error or type(error).__name__)
                self.last_beat = self.clock()
                await self._follow(elector.leading())
                await asyncio.sleep(elector.retry_s)
        finally:
            was_leading = self._leading
            await self._follow(False)
            if was_leading:
                with contextlib.suppress(Exception):
                    await elector.release()

    async def _follow(self, leading: bool) -> None:
        """Start or stop acting as leadership comes or goes."""
        self.metrics.leader.set(1 if leading else 0)
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            self._leading_since = self.clock()
            self.metrics.leadership.labels(change="acquired").inc()
            log.info("leading as %s", self.elector.identity)
            if self.make_provisioner is not None:
                provisioner = self.make_provisioner(self.metrics.provisioner)
                self._rounds = asyncio.create_task(self.rounds(provisioner))
            return
        self.metrics.leadership.labels(change="lost").inc()
        log.warning(
            "not leading any more (the Lease names %r): provisioning stopped", self.elector.holder
        )
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
    # the defragmenter (tidewise/kube/controllers/defrag): it evicts pods, so off unless asked
    defrag: bool = False
    defrag_period_s: float = 5.0
    # the node engine Karpenter (nodes.engine: karpenter): the policy whose NodePools and
    # NodeOverlays the Karpenter controller keeps applied; None: not steered by tidewise
    karpenter: KarpenterPolicy | None = None
    karpenter_period_s: float = 30.0
    # each workload's on-demand base (tidewise/kube/ondemand): its webhook is served by every
    # replica (the API server may call any), its reconciler runs on the leader only
    on_demand_base: WebhookSettings | None = None
    # serverless bursts to a virtual node (controllers.serverless_burst): it evicts pods too
    serverless_burst: ServerlessBurstSettings | None = None
    # tidewise cost's figures on /metrics (kube/cost.py): reads only
    cost: CostSettings | None = None
    # co-location (tidewise/kube/colocation): the batch webhook served by every replica,
    # the controller (batch resources, evictions) on the leader only
    colocation: ColocationSettings | None = None


@dataclass(frozen=True)
class CostSettings:
    """The cost exporter's catalog, the pod labels its series carry, its period."""

    catalog: Catalog
    labels: tuple[str, ...] = ()
    period_s: float = 60.0


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
        if settings.defrag:
            controllers.append(DefragController(client, metrics, settings.defrag_period_s))
        if settings.serverless_burst is not None:
            burst = ServerlessBurstController(client, metrics, settings.serverless_burst)
            controllers.append(burst)
        if settings.cost is not None:
            cost = settings.cost
            exporter = CostExporter(
                client, operator.metrics.registry, cost.catalog, cost.labels, cost.period_s
            )
            controllers.append(exporter)
        if settings.karpenter is not None:
            controllers.append(
                KarpenterController(
                    client, metrics, settings.karpenter, settings.karpenter_period_s
                )
            )
        if settings.training_queue:
            queue = QueueController(
                client, settings.queues, period_s=settings.queue_period_s, metrics=metrics
            )
            controllers.append(queue)
        if settings.on_demand_base is not None:
            base = settings.on_demand_base
            memo.webhook = await serve(client, base)
            controllers.append(BaseReconciler(client, metrics, base.labels, base.period_s))
        if settings.colocation is not None:
            memo.colocation_webhook = await serve_colocation(client, settings.colocation)
            controllers.append(ColocationController(client, metrics, settings.colocation))
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
        if memo.get("webhook") is not None:
            await memo.webhook.cleanup()
        if memo.get("colocation_webhook") is not None:
            await memo.colocation_webhook.cleanup()


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
        # kopf serves no resource here (the controllers use lightkube): no watch of every
        # CRD and namespace, which would need RBAC for nothing (deploy/operator)
        settings.scanning.disabled = True
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
