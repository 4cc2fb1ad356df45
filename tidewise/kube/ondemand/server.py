"""The webhook's HTTPS endpoint: ``POST /mutate`` answers AdmissionReviews.

Why aiohttp and not kopf's admission server: the operator runs kopf with resource scanning
off and serves no resource through it (its controllers use lightkube), while kopf's webhooks
are routed by the resources it discovers and its patches are derived from a merge patch; an
aiohttp route (the stack the operator's ``/healthz`` and the extender already use) keeps the
reply exactly the AdmissionReview this package builds and tests. The certificate is
``kube.api.admission``'s, read again when it changes so a renewed certificate is served
without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from lightkube import AsyncClient

from tidewise.kube.api.admission import ServingCertificate, admission_application, serve_https
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


async def serve(client: AsyncClient, settings: WebhookSettings) -> web.AppRunner:
    """Start serving; the caller cleans the runner up."""
    tls = ServingCertificate(settings.cert, settings.key)
    app = admission_application(PATH, lambda body: review(client, settings.labels, body), tls)
    runner = await serve_https(app, settings.host, settings.port, tls)
    log.info("on-demand base webhook on https://%s:%d%s", settings.host, settings.port, PATH)
    return runner
