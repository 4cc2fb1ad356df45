"""A gateway that fails when told: a TCP relay in front of HAProxy's stats socket that drops
chosen commands, as a gateway dying mid-call does.

Each connection carries one runtime API command (HAProxy answers and closes); the relay reads
it, asks ``refuse(command)``, and either drops the connection without passing the command on
(alternately reset, SO_LINGER 0, and closed with no answer: a gateway killed, and one that
restarts, look like these) or passes it to HAProxy and the answer back.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable

from tests.gateways.stand import free_port


class Relay:
    def __init__(self, haproxy: str, refuse: Callable[[str], bool]) -> None:
        self.haproxy = haproxy  # HAProxy's TCP stats socket, host:port
        self.refuse = refuse
        self.port = free_port()
        self.seen: list[tuple[str, bool]] = []  # (command, refused)
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                relay._one(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _one(self, client: socket.socket) -> None:
        data = b""
        while not data.endswith(b"\n"):
            chunk = client.recv(4096)
            if not chunk:
                return
            data += chunk
        command = data.decode().strip()
        refused = self.refuse(command)
        self.seen.append((command, refused))
        if refused:
            if sum(r for _, r in self.seen) % 2:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()  # a reset
            return  # else socketserver closes it: an answer of no byte
        host, _, port = self.haproxy.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            upstream.sendall(data)
            while chunk := upstream.recv(65536):
                client.sendall(chunk)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
