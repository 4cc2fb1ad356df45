"""The parts of the sync that need no cluster: which errors are worth waiting out, and the
HTTP gate against a real local server."""

import http.server
import threading
from collections.abc import Iterator

import httpx2
import pytest
from lightkube import ApiError

from tidewise.fleet.gates import Gate, GateKind
from tidewise.kube.fleet.sync import probe, transient


def api_error(code: int) -> ApiError:
    request = httpx2.Request("GET", "https://127.0.0.1/api")
    response = httpx2.Response(code, json={"code": code, "message": "x"}, request=request)
    return ApiError(request=request, response=response)


def test_lost_connections_and_busy_servers_are_waited_out_refusals_are_not():
    assert transient(httpx2.ConnectError("refused"))
    assert transient(api_error(503)) and transient(api_error(429))
    assert not transient(api_error(403)) and not transient(api_error(422))


class Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join()
    httpd.server_close()


def test_the_http_gate_passes_on_success_only(server):
    assert probe(Gate(GateKind.HTTP, url=f"{server}/healthz")).ready
    state = probe(Gate(GateKind.HTTP, url=f"{server}/other"))
    assert not state.ready and state.detail == "HTTP 503"
    gone = probe(Gate(GateKind.HTTP, url="http://127.0.0.1:1/healthz"))
    assert not gone.ready and gone.detail.startswith("no answer")
