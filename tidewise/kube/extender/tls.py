"""HTTPS for the extender, with kube-scheduler's client certificate required.

Why: bind creates Bindings for any pod on any node (the scheduler's own power), so whoever may
call the extender may skip every scheduling rule. kube-scheduler presents a client certificate
when its extender entry has ``enableHTTPS: true`` and a ``tlsConfig`` with ``certFile`` and
``keyFile`` (``k8s.io/kube-scheduler/config/v1`` ``ExtenderTLSConfig``); the extender accepts
only clients whose certificate its CA signed, and, if given names, only those names (the
certificate's common name or a DNS name in it).

The files are read again whenever they change (:class:`ServingTls`): cert-manager renews a
certificate in its Secret, the kubelet swaps the mounted files, and connections made after that
use the new certificate, without a restart.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    """The serving certificate and key, and the CA that signs accepted clients (PEM)."""

    cert: Path
    key: Path
    client_ca: Path


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context that requires a client certificate signed by the CA;
    :class:`ssl.SSLError` or :class:`OSError` if a file cannot be read or does not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    context.load_verify_locations(cafile=files.client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class ServingTls:
    """The server context over ``files``, reloaded in place when they change (an
    :class:`ssl.SSLContext` applies a new certificate chain to the connections made after)."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.context = server_context(files)
        self._stamp = self._stamps()

    def _stamps(self) -> tuple[int, ...]:
        return tuple(os.stat(f).st_mtime_ns for f in (self.files.cert, self.files.key))

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed since; whether they did. A file caught half
        written is tried again at the next call (the old certificate stays in use)."""
        try:
            stamp = self._stamps()
            if stamp == self._stamp:
                return False
            self.context.load_cert_chain(self.files.cert, self.files.key)
            self.context.load_verify_locations(cafile=self.files.client_ca)
        except (OSError, ValueError) as error:
            log.warning("TLS files not reloaded (%s); the old certificate stays in use", error)
            return False
        self._stamp = stamp
        log.info("TLS certificate reloaded from %s", self.files.cert)
        return True


def client_names(peercert: Mapping[str, Any] | None) -> set[str]:
    """The names a verified client certificate carries: its common names and DNS names
    (``ssl.SSLSocket.getpeercert()``'s dict)."""
    if not peercert:
        return set()
    subject = peercert.get("subject", ())
    names = {value for rdn in subject for key, value in rdn if key == "commonName"}
    names |= {value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"}
    return names


def allowed(peercert: Mapping[str, Any] | None, accepted: Collection[str]) -> bool:
    """Whether the client may call: any verified client when ``accepted`` is empty."""
    return not accepted or bool(client_names(peercert) & set(accepted))
