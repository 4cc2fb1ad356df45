"""HAProxy's runtime API over its stats socket (unix path or ``host:port``), ``level admin``.

One command per connection (HAProxy closes it after answering unless in prompt mode), so a
failed call never leaves a half-read session behind. Weight changes live in memory: a reload
forgets them unless ``server-state-file`` is set, and the failover loop re-applies on its next
change anyway.
"""

from __future__ import annotations

import csv
import re
import socket
from collections.abc import Mapping

from tidewise.gateways import GatewayError

MAX_WEIGHT = 256  # HAProxy's server weight range is 0..256
_WEIGHT = re.compile(r"^(\d+) \(initial (\d+)\)$")


class HAProxyRuntime:
    def __init__(self, address: str, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s

    def _connect(self) -> socket.socket:
        address = self.address.removeprefix("unix@").removeprefix("ipv4@")
        if "/" in address:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = address
        else:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise GatewayError(
                    f"socket: {self.address!r} is neither a unix socket path nor host:port"
                )
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, int(port))
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(target)
        except OSError as err:
            sock.close()
            raise GatewayError(f"HAProxy runtime API at {self.address}: {err}") from None
        return sock

    def command(self, line: str) -> str:
        """Send one command, return HAProxy's whole answer.

        HAProxy ends every answer with an empty line, so a command that succeeds silently
        (``set server``) still answers ``"\\n"``; a connection closed with no byte at all is
        a HAProxy that died or restarted mid-call, not a success."""
        with self._connect() as sock:
            try:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except OSError as err:
                raise GatewayError(f"HAProxy runtime API {line!r}: {err}") from None
        if not chunks:
            raise GatewayError(f"HAProxy runtime API {line!r}: closed without an answer")
        return b"".join(chunks).decode(errors="replace")  # whatever answers, never a crash

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        if not 0 <= weight <= MAX_WEIGHT:
            raise GatewayError(f"{backend}/{server}: HAProxy weights are 0..{MAX_WEIGHT}")
        answer = self.command(f"set server {backend}/{server} weight {weight}").strip()
        if answer:  # silence is success; anything else is HAProxy's reason
            raise GatewayError(f"set server {backend}/{server} weight {weight}: {answer}")

    def get_weight(self, backend: str, server: str) -> tuple[int, int]:
        """(current, initial) weight of one server."""
        answer = self.command(f"get weight {backend}/{server}").strip()
        match = _WEIGHT.match(answer)
        if match is None:
            raise GatewayError(f"get weight {backend}/{server}: {answer}")
        return int(match[1]), int(match[2])

    def show_stat(self) -> list[dict[str, str]]:
        """``show stat`` as one dict per proxy/server row, keyed by the CSV header."""
        text = self.command("show stat")
        if not text.startswith("# "):
            raise GatewayError(f"show stat: {text.strip()[:200]}")
        return list(csv.DictReader(text[2:].splitlines()))


class HAProxyGateway:
    """One backend whose servers are the clusters' entry points (``servers``: cluster -> name)."""

    def __init__(self, runtime: HAProxyRuntime, backend: str, servers: Mapping[str, str]) -> None:
        self.runtime = runtime
        self.backend = backend
        self.servers = dict(servers)

    def describe(self) -> str:
        return f"HAProxy runtime API at {self.runtime.address}, backend {self.backend}"

    def read_weights(self) -> dict[str, int]:
        return {c: self.runtime.get_weight(self.backend, s)[0] for c, s in self.servers.items()}

    def apply(self, weights: Mapping[str, int]) -> None:
        # the cluster that will carry most goes first: the backend never passes through all-zero
        for cluster in sorted(weights, key=lambda c: -weights[c]):
            self.runtime.set_weight(self.backend, self.servers[cluster], weights[cluster])

    def stats(self) -> dict[str, dict[str, str]]:
        """This backend's ``show stat`` row per cluster (status, weight, sessions ...)."""
        by_server = {
            row["svname"]: row for row in self.runtime.show_stat() if row["pxname"] == self.backend
        }
        return {c: by_server[s] for c, s in self.servers.items() if s in by_server}
