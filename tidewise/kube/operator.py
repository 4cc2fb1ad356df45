"""``tidewise operator``: the provisioner as a deployable process.

kopf owns the process (login, signals, startup and cleanup); the provisioner runs as a
background task that kopf starts and stops. kopf's own peering is off (standalone): which
replica acts is decided by a ``coordination.k8s.io/v1`` Lease instead, the mechanism every
Kubernetes controller uses, so it needs no CRD. Only the holder of the Lease runs provisioning
rounds; the others keep trying to take it.

Leader election, kept small:

- a candidate takes the Lease when it is absent, released (no holder), or not renewed for
  ``leaseDurationSeconds`` (compared with the Lease's ``renewTime``, so clocks are taken to be
  roughly in sync, as client-go's elector does with its observed times);
- the holder renews every ``renew_s`` (a third of the duration); writes carry the
  resourceVersion read, so two candidates racing for the Lease cannot both win (one gets 409);
- a holder that fails to renew steps down at once (stops its rounds), before another may take
  the Lease; on shutdown it releases the Lease so a successor need not wait.

Drains already started when a holder steps down finish in the background; a successor sees
the draining annotation and resumes them (``Provisioner`` is level-triggered).

``/healthz`` (200 while the election loop is alive, leader or not) and Prometheus ``/metrics``
are served on one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf
from aiohttp import web
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tidewise.kube.controllers import ControllerSettings, register_controllers
from tidewise.kube.provider import Provisioner
from tidewise.model import Drain, Launch

log = logging.getLogger(__name__)

LEASE_NAME = "tidewise-operator"


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


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaseElector:
    """Takes and renews the Lease ``namespace/name`` for ``identity``."""

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        duration_s: int = 15,
    ) -> None:
        self.client, self.namespace, self.identity, self.name = client, namespace, identity, name
        self.duration_s = duration_s

    async def acquire_or_renew(self) -> bool:
        """Whether this identity holds the Lease after the call."""
        stamp = now()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            spec = LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=self.duration_s,
                acquireTime=stamp,
                renewTime=stamp,
                leaseTransitions=0,
            )
            fresh = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            return await self._write(self.client.create(fresh))
        spec = lease.spec or LeaseSpec()
        mine = spec.holderIdentity == self.identity
        if spec.holderIdentity and not mine:
            expiry = (spec.renewTime or stamp) + datetime.timedelta(
                seconds=spec.leaseDurationSeconds or self.duration_s
            )
            if expiry > stamp:
                return False
        if not mine:
            spec.acquireTime = stamp
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
            log.info(
                "taking the lease %s/%s from %r", self.namespace, self.name, spec.holderIdentity
            )
        spec.holderIdentity, spec.renewTime = self.identity, stamp
        spec.leaseDurationSeconds = self.duration_s
        lease.spec = spec
        return await self._write(self.client.replace(lease))

    async def _write(self, request: Any) -> bool:
        try:
            await request
        except ApiError as error:
            if error.status.code == 409:  # another candidate wrote first
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up, if held, so a successor takes it at once."""
        lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        if lease.spec and lease.spec.holderIdentity == self.identity:
            lease.spec.holderIdentity = None
            await self.client.replace(lease)
            log.info("released the lease %s/%s", self.namespace, self.name)


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

    if controllers is not None:  # CronHPA and ElasticScaler (tidewise/kube/controllers)
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
