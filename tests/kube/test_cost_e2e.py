"""``tidewise cost`` on the real control plane: nodes labelled as a provider labels them
(instance type, zone, capacity type), pods bound by the scheduler, the costs read as a user
reads them (a subprocess, JSON). A pod asking for exactly half of every resource of a node
pays exactly half its price whatever the CPU/memory split; one asking for all of a GPU node
pays all of it; the groups and the idle remainder add up to the nodes' prices to the cent."""

import json
import subprocess
import sys
import uuid

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod, ServiceAccount

from tests.kube.kwok import condition, fake_node, fake_pod_spec, wait_for
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from tidewise.testenv import Cluster

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


def test_cost_splits_the_nodes_prices_over_the_pods_and_shows_the_idle_rest(
    cluster: Cluster, kube: Client
):
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

        report = cost(cluster, "--by", "namespace", "--hours", "24")
        mine = {g["name"]: g for g in report["groups"]}[namespace]
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
    finally:
        kube.delete(Namespace, namespace)
        for name in nodes:
            kube.delete(Node, name)


def test_a_bad_grouping_is_one_line_and_exit_2(cluster: Cluster):
    out = run(cluster, "--by", "colour")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --by: give namespace, node, pod or label:KEY (e.g. label:team), not 'colour'"
    ]
