"""A Prometheus HTTP API stand-in on loopback for the unit tests: ``/api/v1/query_range``
answers the series whose key is a substring of the query (a function of Unix time), and
records every request, so a test can check the pieces it was asked for."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Series = Callable[[float], float | None]


class FakePrometheus:
    def __init__(self, series: dict[str, Series], error: str | None = None) -> None:
        self.series = series
        self.error = error
        self.requests: list[dict[str, str]] = []
        self.url = ""

    def answer(self, params: dict[str, str]) -> dict:
        self.requests.append(params)
        if self.error:
            return {"status": "error", "errorType": "bad_data", "error": self.error}
        start, end, step = (float(params[k]) for k in ("start", "end", "step"))
        result = []
        for key, value_at in self.series.items():
            if key not in params["query"]:
                continue
            values = []
            t = start
            while t <= end + 1e-9:
                value = value_at(t)
                if value is not None:
                    values.append([t, repr(float(value))])
                t += step
            result.append({"metric": {"series": key}, "values": values})
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}


@contextmanager
def serving(fake: FakePrometheus) -> Iterator[FakePrometheus]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/api/v1/query_range":
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body = json.dumps(fake.answer(params)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
