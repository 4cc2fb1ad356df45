"""deploy/prometheus and deploy/grafana: the alert rules pass their `promtool test rules`
unit test, the PrometheusRule holds the rules file's groups, every alert has its runbook,
and every metric an alert, a rule test or a dashboard names is one the code exports (read
off the registries the components serve, not off a list), so a renamed metric fails here
instead of silencing an alert."""

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.cost import CostExporter
from tidewise.kube.operator import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus"
GRAFANA = ROOT / "deploy/grafana"
RUNBOOK = ROOT / "docs/alerts.md"
NAME = re.compile(r"\b(tidewise_[a-z0-9_]+)\b")


def operator_registry() -> CollectorRegistry:
    """What ``tidewise operator`` serves on /metrics: its own, the provisioner's, the
    controllers', the cost exporter's (controllers.cost)."""
    metrics = Metrics()
    ControllerMetrics(metrics.registry)
    catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
    CostExporter(None, metrics.registry, catalog)  # type: ignore[arg-type]  # never syncs
    return metrics.registry


def extender_registry() -> CollectorRegistry:
    """What ``tidewise extender serve`` serves, its books' gauges included."""
    exported = importlib.import_module("tidewise.kube.extender.metrics")
    state = importlib.import_module("tidewise.kube.extender.state")
    metrics = exported.ExtenderMetrics()
    metrics.watch_books(state.GpuShareBook())
    return metrics.registry


def fleet_registry() -> CollectorRegistry:
    """What ``tidewise fleet watch --metrics-port`` serves."""
    return importlib.import_module("tidewise.gateways.metrics").WatchMetrics().registry


# each exporter, by the prefix of its names (the longest prefix wins)
EXPORTERS: dict[str, tuple[Callable[[], CollectorRegistry], str]] = {
    "tidewise_": (operator_registry, "tidewise.kube.operator"),
    "tidewise_extender_": (extender_registry, "tidewise.kube.extender.metrics"),
    "tidewise_fleet_": (fleet_registry, "tidewise.gateways.metrics"),
}
# the dashboards that chart each exporter's metrics
DASHBOARDS = {
    "tidewise_": ("operator.json", "controllers.json", "cost.json"),
    "tidewise_extender_": ("extender.json",),
}


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name ``registry`` serves: gauges by their name, counters with ``_total``,
    histograms with ``_bucket``, ``_count`` and ``_sum``."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def exporter_of(name: str) -> str:
    return max((p for p in EXPORTERS if name.startswith(p)), key=len)


def rules() -> dict:
    return yaml.safe_load((RULES / "rules.yaml").read_text())


def alerts() -> list[dict]:
    return [rule for group in rules()["groups"] for rule in group["rules"]]


def named() -> dict[str, set[str]]:
    """Metric names used, by where: the rules, the rules' unit test, each dashboard."""
    series = yaml.safe_load((RULES / "tests.yaml").read_text())["tests"]
    found = {
        "rules.yaml": {n for rule in alerts() for n in NAME.findall(rule["expr"])},
        "tests.yaml": {
            n for t in series for s in t["input_series"] for n in NAME.findall(s["series"])
        },
    }
    for board in sorted(GRAFANA.glob("*.json")):
        panels = json.loads(board.read_text())["panels"]
        exprs = [t["expr"] for p in panels for t in p["targets"]]
        found[board.name] = {n for e in exprs for n in NAME.findall(e)}
    return found


def exported(prefix: str) -> set[str]:
    make, module = EXPORTERS[prefix]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        pytest.skip(f"{module} is not on this branch: its alerts and panels are checked once it is")
    return sample_names(make())


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is missing: install Debian's prometheus package (make debs)")
    return found


def test_the_rules_pass_their_promtool_unit_test(promtool):
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yaml"], cwd=RULES, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], cwd=RULES, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_unit_tested_firing():
    tests = yaml.safe_load((RULES / "tests.yaml").read_text())["tests"]
    fired = {
        case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]
    }
    assert fired == {a["alert"] for a in alerts()}


def test_the_prometheusrule_holds_the_rules_files_groups():
    (rule,) = yaml.safe_load_all((RULES / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == rules()
    kustomization = yaml.safe_load((RULES / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["prometheusrule.yaml"]


def test_every_alert_has_a_severity_and_its_runbook():
    text = RUNBOOK.read_text()
    headings = {f"#{h.strip().lower()}" for h in re.findall(r"^## (\w+)", text, re.M)}
    for alert in alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["runbook"] == f"docs/alerts.md#{alert['alert'].lower()}"
        assert f"#{alert['alert'].lower()}" in headings, f"docs/alerts.md: {alert['alert']}"


def test_the_scan_sees_every_place_a_metric_is_named():
    used = named()
    assert "tidewise_leader" in used["rules.yaml"] and "tidewise_leader" in used["operator.json"]
    assert "tidewise_extender_request_duration_seconds_bucket" in used["rules.yaml"]
    assert "tidewise_fleet_failover_engaged" in used["rules.yaml"]
    assert used["rules.yaml"] <= used["tests.yaml"], "an alert's metric has no test series"


@pytest.mark.parametrize("prefix", sorted(EXPORTERS))
def test_every_metric_named_is_one_the_code_exports(prefix):
    mine = {
        where: {n for n in names if exporter_of(n) == prefix} for where, names in named().items()
    }
    assert any(mine.values()), f"nothing names {prefix}*"
    served = exported(prefix)
    unknown = {where: sorted(names - served) for where, names in mine.items() if names - served}
    assert unknown == {}


@pytest.mark.parametrize("prefix", sorted(DASHBOARDS))
def test_every_metric_exported_is_on_its_dashboard(prefix):
    served = {n for n in exported(prefix) if exporter_of(n) == prefix}
    boards = named()
    shown = {n for board in DASHBOARDS[prefix] for n in boards[board]}
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in served}
    missing = {f for f in families if not any(s.startswith(f) for s in shown)}
    assert missing == set()
