"""deploy/grafana/controllers.json queries only metrics the operator exports."""

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.operator import Metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy/grafana/controllers.json"


def exported() -> set[str]:
    """Every sample name the operator's /metrics serves: gauges by their name, counters with
    ``_total``, histograms with ``_bucket``, ``_count`` and ``_sum``."""
    operator = Metrics()
    ControllerMetrics(operator.registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for family in operator.registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def queried() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    return {name for e in exprs for name in re.findall(r"\b(tidewise_[a-z_]+)\b", e)}


def test_every_queried_metric_is_exported():
    used = queried()
    assert "tidewise_controller_reconcile_seconds_bucket" in used  # the scan works
    assert used - exported() == set()


def test_every_controller_metric_is_on_the_dashboard():
    registry = CollectorRegistry()
    ControllerMetrics(registry)
    families = {f.name for f in registry.collect()}
    used = queried()
    missing = {f for f in families if not any(u.startswith(f) for u in used)}
    assert missing == set()
