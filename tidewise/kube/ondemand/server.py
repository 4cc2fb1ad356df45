"""The webhook's HTTPS endpoint: ``POST /mutate`` answers AdmissionReviews.

Why aiohttp and not kopf's admission server: the operator runs kopf with resource scanning
off and serves no resource through it (its controllers use lightkube), while kopf's webhooks
are routed by the resources it discovers and its patches are derived from a merge patch; an
aiohttp route (the stack the operator's ``/healthz`` and the extender already use) keeps the
reply exactly the AdmissionReview this package builds and tests. The API server calls
admission webhooks over TLS only, with the ``caBundle`` of the webhook configuration: the
certificate and key are files (a cert-manager Secret mounted in the pod, or the test
environment's PKI), read again when they change so a renewed certificate is served without a
restart. No client certificate is asked for: the API server presents none unless configured
to (``--admission-control-config-file``), and the webhook only advises, it writes nothing.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from lightkube import AsyncClient

from tidewise.kube.ondemand.webhook import review
from tidewise.kube.ondemand.workloads import CapacityLabel

log = logging.getLogger(__name__)

PATH = "/mutate"


@dataclass(frozen=True)
class WebhookSettings:
    """Where the webhook listens and its serving certificate; with the capacity label and
    the reconciler's period, what ``tidewise operator`` needs to run the on-demand base."""

    host: str
    port: int
    cert: Path
    key: Path
    labels: CapacityLabel = field(default_factory=CapacityLabel)
    period_s: float = 5.0


class ServingCertificate:
    """A TLS server context over a certificate and key, loaded again when either changes."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self._stamp = self._stamps()

    def _stamps(self) -> tuple[int, int]:
        return os.stat(self.cert).st_mtime_ns, os.stat(self.key).st_mtime_ns

    def reload_if_changed(self) -> None:
        try:
            stamp = self._stamps()
            if stamp != self._stamp:
                self.context.load_cert_chain(self.cert, self.key)
                self._stamp = stamp
                log.info("webhook certificate reloaded from %s", self.cert)
        except (OSError, ssl.SSLError) as error:  # half written: try at the next request
            log.warning("webhook certificate not reloaded (%s)", error)


def application(
    client: AsyncClient, labels: CapacityLabel, tls: ServingCertificate
) -> web.Application:
    async def mutate(request: web.Request) -> web.Response:
        tls.reload_if_changed()
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "an AdmissionReview in JSON"}, status=400)
        return web.json_response(await review(client, labels, body))

    app = web.Application()
    app.add_routes([web.post(PATH, mutate)])
    return app


async def serve(client: AsyncClient, settings: WebhookSettings) -> web.AppRunner:
    """Start serving; the caller cleans the runner up."""
    tls = ServingCertificate(settings.cert, settings.key)
    runner = web.AppRunner(application(client, settings.labels, tls), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port, ssl_context=tls.context).start()
    log.info("on-demand base webhook on https://%s:%d%s", settings.host, settings.port, PATH)
    return runner
