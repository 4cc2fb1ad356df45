"""The HAProxy runtime client's reading of an answer, against a socket that answers as told."""

import socket
import threading

import pytest

from tidewise.gateways import GatewayError
from tidewise.gateways.haproxy import HAProxyRuntime


def answering(reply: bytes) -> str:
    """A one-connection server on loopback that reads a command and answers ``reply``."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = server.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(reply)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}"


def test_silence_is_success_only_when_haproxy_answers_its_empty_line():
    HAProxyRuntime(answering(b"\n")).set_weight("clusters", "a", 10)  # HAProxy's success
    with pytest.raises(GatewayError, match="closed without an answer"):
        HAProxyRuntime(answering(b"")).set_weight("clusters", "a", 10)


def test_an_answer_that_is_not_text_is_an_error_not_a_crash():
    with pytest.raises(GatewayError, match="get weight clusters/a"):
        HAProxyRuntime(answering(b"\xff\xfe\x00garbage\n\n")).get_weight("clusters", "a")
