"""A real Prometheus for the end-to-end tests, run on loopback.

Why: the controllers that read metrics (the ElasticScaler, ``capture``, co-location) must be
tested against the real query engine and HTTP API, not a hand-written imitation of
``/api/v1/query``: PromQL's staleness, ``rate`` extrapolation and ``histogram_quantile`` are
where a fake would lie. The binaries are Debian's ``prometheus`` package (``make debs``
installs it, with ``promtool``), found on ``PATH``.

Two ways to put series in it, both through Prometheus' own code:

* scraping: ``prometheus_process(..., targets=[...])`` scrapes the given ``host:port`` targets
  at a short interval (an exporter the test serves);
* recorded history: ``history=`` an OpenMetrics text (``openmetrics`` writes one from samples)
  that ``promtool tsdb create-blocks-from openmetrics`` turns into TSDB blocks before the
  server starts, so a week of past samples is queryable at once.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tidewise.testenv.cluster import ClusterError, free_ports, served_process

COMMANDS = ("prometheus", "promtool")
READY_TIMEOUT = 60.0
# far past any recorded history a test loads, so the TSDB never deletes it as expired
RETENTION = "3650d"


@dataclass(frozen=True)
class PrometheusBinaries:
    """Where ``prometheus`` and ``promtool`` are."""

    prometheus: Path
    promtool: Path


def find_prometheus() -> PrometheusBinaries | None:
    """The installed commands, or None when either is missing (``make debs`` installs them)."""
    found = [shutil.which(name) for name in COMMANDS]
    if None in found:
        return None
    prometheus, promtool = (Path(path) for path in found if path is not None)
    return PrometheusBinaries(prometheus, promtool)


@dataclass(frozen=True)
class Series:
    """Samples of one series for recorded history: ``(unix seconds, value)`` pairs."""

    name: str
    labels: Mapping[str, str]
    samples: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class RunningPrometheus:
    """A started server: its base URL and a query helper for the tests' own checks."""

    url: str
    folder: Path

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """``/api/v1/query``'s result vector (raises on an error answer)."""
        parameters = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode(parameters)}"
        with urllib.request.urlopen(address, timeout=10) as answer:
            body = json.load(answer)
        if body.get("status") != "success":
            raise ClusterError(f"prometheus query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def openmetrics(series: Iterable[Series]) -> str:
    """The OpenMetrics text ``promtool tsdb create-blocks-from openmetrics`` reads: one gauge
    family per name, samples with timestamps in seconds, ``# EOF`` last."""
    families: dict[str, list[Series]] = {}
    for one in series:
        families.setdefault(one.name, []).append(one)
    lines: list[str] = []
    for name, members in families.items():
        lines.append(f"# TYPE {name} gauge")
        for member in members:
            labels = ",".join(f'{key}="{_escaped(value)}"' for key, value in member.labels.items())
            selector = f"{name}{{{labels}}}" if labels else name
            for stamp, value in member.samples:
                if not math.isfinite(value):
                    raise ValueError(f"{name}: sample at {stamp} is {value}, not a finite number")
                lines.append(f"{selector} {value!r} {stamp:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def load_history(binaries: PrometheusBinaries, text: str, data: Path, log: Path) -> None:
    """Recorded samples into TSDB blocks in ``data``, by promtool (before the server starts)."""
    source = data.parent / "history.om"
    source.write_text(text)
    with open(log, "ab") as out:
        done = subprocess.run(
            [
                str(binaries.promtool),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(data),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise ClusterError(f"promtool could not load the history; see {log}")


def configuration(targets: Sequence[str], interval_s: float) -> dict[str, Any]:
    """One scrape job over ``targets``; the evaluation interval matches the scrape's."""
    # Prometheus durations take whole units: milliseconds cover the sub-second intervals
    interval = f"{max(round(interval_s * 1000), 100)}ms"
    jobs = (
        [{"job_name": "tests", "static_configs": [{"targets": list(targets)}]}] if targets else []
    )
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }


@contextmanager
def prometheus_process(
    binaries: PrometheusBinaries,
    folder: Path,
    targets: Sequence[str] = (),
    interval_s: float = 1.0,
    history: str | None = None,
) -> Iterator[RunningPrometheus]:
    """Prometheus on a free loopback port until the block ends, its TSDB, configuration and
    log (``prometheus.log``) in ``folder``; ``history`` (OpenMetrics text) is loaded first."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    data.mkdir(exist_ok=True)
    log = folder / "prometheus.log"
    if history is not None:
        load_history(binaries, history, data, log)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(configuration(targets, interval_s)))
    port = free_ports(("prometheus",))["prometheus"]
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(binaries.prometheus),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with served_process("prometheus", argv, log, f"{url}/-/ready", READY_TIMEOUT):
        yield RunningPrometheus(url, folder)
