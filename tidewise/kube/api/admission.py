"""What every admission webhook of the operator shares: its serving certificate, reloaded
when it is renewed, the HTTPS site it is served on, and the AdmissionReview answer.

Why here: the on-demand base and co-location each serve a mutating webhook from the
operator's process; the API server calls webhooks over TLS only, with the ``caBundle`` of
the webhook configuration, so both need the same certificate handling (a cert-manager
Secret mounted in the pod, or the test environment's PKI). No client certificate is asked
for: the API server presents none unless configured to (``--admission-control-config-file``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


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


Answer = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


def admission_application(path: str, answer: Answer, tls: ServingCertificate) -> web.Application:
    """``POST path`` answers an AdmissionReview with ``answer``'s reply (the certificate
    reloaded first if it was renewed); a body that is not JSON is a 400."""

    async def mutate(request: web.Request) -> web.Response:
        tls.reload_if_changed()
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "an AdmissionReview in JSON"}, status=400)
        return web.json_response(await answer(body))

    app = web.Application()
    app.add_routes([web.post(path, mutate)])
    return app


async def serve_https(
    app: web.Application, host: str, port: int, tls: ServingCertificate
) -> web.AppRunner:
    """Serve ``app`` over TLS on ``host:port``; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls.context).start()
    return runner


def admission_reply(
    uid: str,
    patch: list[dict[str, Any]] | None = None,
    warning: str | None = None,
    refusal: str | None = None,
) -> dict[str, Any]:
    """An ``admission.k8s.io/v1`` AdmissionReview answer: admitted with an optional JSON
    Patch and warning, or refused with ``refusal`` as the message the client is shown."""
    response: dict[str, Any] = {"uid": uid, "allowed": refusal is None}
    if refusal is not None:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": refusal}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warning:
        response["warnings"] = [warning]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
