"""``tidewise cost`` on the real control plane: nodes labelled as a provider labels them
(instance type, zone, capacity type), pods bound by the scheduler, the costs read as a user
reads them (a subprocess, JSON). A pod asking for exactly half of every resource of a node
pays exactly half its price whatever the CPU/memory split; one asking for all of a GPU node
pays all of it; the groups and the idle remainder add up to the nodes' prices to the cent."""

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod, ServiceAccount
from prometheus_client.parser import text_string_to_metric_families

from tests.kube.kwok import condition, fake_node, fake_pod_spec, tidewise_process, wait_for
from tests.kube.serviceaccount import only, operator_kubeconfig
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

CATALOG = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


def price(kind: str, option: str) -> float:
    (found,) = [
        o.price_per_hour
        for o in CATALOG.offerings
        if o.instance_type.name == kind and o.zone == "use1-az1" and o.option.value == option
    ]
    return found


def run(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["cost", "--kubeconfig", str(cluster.kubeconfig), *args]
    return subprocess.run(
        [sys.executable, "-m", "tidewise.cli", *command], capture_output=True, text=True, timeout=60
    )


def cost(cluster: Cluster, *args: str) -> dict:
    out = run(cluster, *args, "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def priced(cluster: Cluster, kube: Client) -> Iterator[str]:
    """A namespace with two pods on two labelled nodes of their own: ``web`` (team web)
    asks for half of an m6i.xlarge on spot, ``train`` (team ml) for all of a g5.xlarge on
    demand."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"cost-{suffix}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    nodes = {
        f"web-{suffix}": ("m6i.xlarge", "spot", {}),
        f"gpu-{suffix}": ("g5.xlarge", "on-demand", {"nvidia.com/gpu": "1"}),
    }
    for name, (kind, option, extra) in nodes.items():
        labels = {INSTANCE_TYPE: kind, ZONE: "use1-az1", CAPACITY_TYPE: option, "e2e": name}
        kube.create(fake_node(name, {"cpu": "4", "memory": "16Gi", **extra}, labels))
    for name in nodes:
        wait_for(f"{name} Ready", lambda name=name: condition(kube.get(Node, name), "Ready"))
    wait_for(
        "the service account", lambda: bool(list(kube.list(ServiceAccount, namespace=namespace)))
    )
    try:
        half = fake_pod_spec({"cpu": "2", "memory": "8Gi"}, {"e2e": f"web-{suffix}"})
        whole = fake_pod_spec(
            {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}, {"e2e": f"gpu-{suffix}"}
        )
        for name, spec, team in (("web", half, "web"), ("train", whole, "ml")):
            meta = ObjectMeta(name=name, labels={"team": team})
            kube.create(Pod(metadata=meta, spec=spec), namespace=namespace)
        wait_for(
            "both pods bound",
            lambda: (
                all(p.spec.nodeName for p in kube.list(Pod, namespace=namespace))
                and len(list(kube.list(Pod, namespace=namespace))) == 2
            ),
        )
        yield namespace
    finally:
        kube.delete(Namespace, namespace)
        for name in nodes:
            kube.delete(Node, name)


def test_cost_splits_the_nodes_prices_over_the_pods_and_shows_the_idle_rest(
    cluster: Cluster, priced: str
):
    report = cost(cluster, "--by", "namespace", "--hours", "24")
    mine = {g["name"]: g for g in report["groups"]}[priced]
    expected = 24 * (price("m6i.xlarge", "spot") / 2 + price("g5.xlarge", "on-demand"))
    assert round(mine["total_usd"], 2) == round(expected, 2)
    assert mine["gpu_usd"] > 0 and report["hours"] == 24
    groups = sum(g["total_usd"] for g in report["groups"])
    assert round(groups + report["idle"]["total_usd"], 2) == round(report["nodes_usd"], 2)
    assert report["idle"]["total_usd"] >= 24 * price("m6i.xlarge", "spot") / 2 - 0.005

    by_team = cost(cluster, "--by", "label:team")
    teams = {g["name"]: g["total_usd"] for g in by_team["groups"]}
    assert teams["ml"] == pytest.approx(price("g5.xlarge", "on-demand"))
    assert teams["web"] == pytest.approx(price("m6i.xlarge", "spot") / 2)


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The operator's /metrics as samples by metric name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_the_operator_exports_the_same_figures_as_metrics(
    cluster: Cluster, kube: Client, priced: str
):
    """``controllers.cost`` under the shipped ServiceAccount and its component's RBAC: the
    pods' series sum, by namespace and by team, to what ``tidewise cost`` prints, to the
    cent; pods and idle add up to the nodes' prices."""
    config = only(cost=True, cost_labels=["team"], cost_period_s=1)
    path = cluster.folder / f"cost-{priced}.yaml"
    path.write_text(yaml.safe_dump(config))
    account = operator_kubeconfig(cluster, kube, priced, ["cost"])
    port = free_ports(("health",))["health"]
    options = ["--kubeconfig", str(account), "--config", str(path), "--lease-namespace", priced]
    options += ["--lease-duration", "6", "--health-host", "127.0.0.1", "--health-port", str(port)]
    with tidewise_process(cluster.folder / "logs/operator-cost.log", "operator", *options):

        def mine() -> list[tuple[dict[str, str], float]]:
            try:
                pods = scrape(port).get("tidewise_pod_cost_usd_per_hour", [])
            except OSError:  # not listening yet
                return []
            return [(labels, v) for labels, v in pods if labels["namespace"] == priced]

        wait_for("the pods' cost series", lambda: len(mine()) == 2 * 3, deadline=60)
        report = cost(cluster, "--by", "namespace")
        printed = {g["name"]: g["total_usd"] for g in report["groups"]}[priced]
        assert round(sum(v for _, v in mine()), 2) == round(printed, 2)
        teams: dict[str, float] = {}
        for labels, usd in mine():
            teams[labels["label_team"]] = teams.get(labels["label_team"], 0.0) + usd
        assert teams["ml"] == pytest.approx(price("g5.xlarge", "on-demand"))
        assert teams["web"] == pytest.approx(price("m6i.xlarge", "spot") / 2)
        metrics = scrape(port)
        total = sum(v for _, v in metrics["tidewise_pod_cost_usd_per_hour"])
        total += sum(v for _, v in metrics["tidewise_idle_cost_usd_per_hour"])
        nodes = sum(v for _, v in metrics["tidewise_node_cost_usd_per_hour"])
        assert round(total, 2) == round(nodes, 2) == round(report["nodes_usd"], 2)


def test_a_bad_grouping_is_one_line_and_exit_2(cluster: Cluster):
    out = run(cluster, "--by", "colour")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --by: give namespace, node, pod or label:KEY (e.g. label:team), not 'colour'"
    ]
