"""Stand-ins for two clusters' ingresses and the HAProxy in front of them, on loopback."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tidewise.gateways import GatewayError
from tidewise.gateways.haproxy import HAProxyRuntime

BACKEND = "clusters"
# a fast failover for the end-to-end runs: out after 3 x 0.5 s, back in 4.5 s
FAILOVER = {"interval_s": 0.5, "timeout_s": 0.25, "fall": 3, "rise": 3, "step": 25, "step_every": 2}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Answer(BaseHTTPRequestHandler):
    """Every path answers 200 with the cluster's name (``/healthz`` included)."""

    def do_GET(self):
        body = json.dumps({"cluster": self.server.cluster}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ClusterServer:
    """One cluster's entry point: a threaded HTTP server that can be stopped and started again
    on the same port (a refused connection is what a dead ingress looks like)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Answer)
        server.cluster = self.name
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if binary is None:
        pytest.fail("haproxy is missing: run `make test` or `scripts/ensure-debs` first")
    return binary


class HAProxy:
    """A real HAProxy: one frontend, one round-robin backend of the clusters, admin socket."""

    def __init__(self, folder: Path, servers: dict[str, tuple[str, int]]) -> None:
        self.port = free_port()
        self.socket = str(folder / "admin.sock")
        self.tcp_socket = f"127.0.0.1:{free_port()}"
        lines = [
            "global",
            f"  stats socket {self.socket} mode 600 level admin",
            f"  stats socket ipv4@{self.tcp_socket} level admin",
            "defaults",
            "  mode http",
            "  timeout connect 1s",
            "  timeout client 5s",
            "  timeout server 5s",
            "frontend entry",
            f"  bind 127.0.0.1:{self.port}",
            f"  default_backend {BACKEND}",
            f"backend {BACKEND}",
            "  balance roundrobin",
            *(f"  server {n} {addr} weight {w}" for n, (addr, w) in servers.items()),
        ]
        self.config = folder / "haproxy.cfg"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = folder / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(self.config)], stdout=out, stderr=out
            )
        runtime = HAProxyRuntime(self.socket)
        end = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"haproxy exited: {self.log.read_text()}"
            try:
                runtime.command("show info")
                return
            except GatewayError:
                assert time.monotonic() < end, "haproxy's stats socket never answered"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def ask(port: int) -> str:
    """One request through the frontend on its own connection: which cluster answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        return f"http-{response.status}"
    return json.loads(body)["cluster"]


def measure_split(port: int, requests: int) -> dict[str, float]:
    counts = Counter(ask(port) for _ in range(requests))
    return {name: n / requests for name, n in counts.items()}
