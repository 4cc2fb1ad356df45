"""The test environment's Prometheus: the OpenMetrics history writer and scrape configuration
(unit), and the real server answering PromQL over recorded history and a live scrape (e2e)."""

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidewise.testenv.prometheus import (
    PrometheusBinaries,
    Series,
    configuration,
    openmetrics,
    prometheus_process,
)


def test_openmetrics_groups_families_and_ends_with_eof() -> None:
    text = openmetrics(
        [
            Series("requests", {"service": "web"}, [(100.0, 1.0), (160.0, 2.5)]),
            Series("requests", {"service": 'a"b'}, [(100.0, 3.0)]),
            Series("load", {}, [(100.0, 0.25)]),
        ]
    )
    lines = text.splitlines()
    assert lines[0] == "# TYPE requests gauge"
    assert lines[1] == 'requests{service="web"} 1.0 100.000'
    assert lines[3] == 'requests{service="a\\"b"} 3.0 100.000'
    assert lines[4:] == ["# TYPE load gauge", "load 0.25 100.000", "# EOF"]


def test_openmetrics_refuses_values_prometheus_would_misread() -> None:
    with pytest.raises(ValueError, match="nan"):
        openmetrics([Series("x", {}, [(1.0, float("nan"))])])


def test_configuration_scrapes_only_the_targets_given() -> None:
    assert configuration([], 1.0)["scrape_configs"] == []
    config = configuration(["127.0.0.1:9"], 0.5)
    assert config["global"]["scrape_interval"] == "500ms"
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9"]}]


class _Exporter(http.server.BaseHTTPRequestHandler):
    body = b"# TYPE queue gauge\nqueue 7\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_real_prometheus_answers_over_history_and_a_live_scrape(
    prometheus_binaries: PrometheusBinaries, tmp_path: Path, exporter: str
) -> None:
    now = time.time()
    week_ago = now - 7 * 86400
    history = [(week_ago + minute * 60, float(minute % 10)) for minute in range(7 * 24 * 60)]
    text = openmetrics([Series("recorded_rate", {"service": "web"}, history)])
    with prometheus_process(
        prometheus_binaries, tmp_path, [exporter], interval_s=0.5, history=text
    ) as prometheus:
        # the recorded week: an hour's window (half a minute off the samples, so exactly 60
        # of them) holds six whole cycles of 0..9, which average 4.5
        at = week_ago + 86400 + 30
        day_before = prometheus.query("avg_over_time(recorded_rate[1h])", at=at)
        assert [float(r["value"][1]) for r in day_before] == [4.5]
        assert day_before[0]["metric"] == {"service": "web"}
        # the live target, once scraped
        deadline = time.monotonic() + 20
        while not (live := prometheus.query('queue{job="tests"}')):
            assert time.monotonic() < deadline, "the exporter was never scraped"
            time.sleep(0.25)
        assert float(live[0]["value"][1]) == 7.0
