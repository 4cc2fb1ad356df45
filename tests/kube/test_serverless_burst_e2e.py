"""Serverless bursts on the real control plane, with real Karpenter: a workload whose pods
cannot get a VM (its NodePool's limit blocks every purchase) goes to a virtual node once its
pods have waited past the bound; its pods are billed per pod-second at the catalog's
serverless price; when the limit is raised they come back to VMs that Karpenter buys, one at a
time and never below the workload's disruption budget.

``tidewise operator`` runs as deployed: its own process, the shipped ServiceAccount with the
base RBAC and the serverless-burst component only, configured by a file; its provisioner is
off (Karpenter buys the nodes)."""

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml
from lightkube import Client
from lightkube.models.core_v1 import NodeSpec, NodeStatus, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube import test_karpenter_e2e as karpenter_tests
from tests.kube.karpenter import NODEPOOL_LABEL, apply, claims_of, running_karpenter
from tests.kube.kwok import (
    LowestAvailable,
    condition,
    deployment,
    tidewise_process,
    wait_for,
    web_budget,
)
from tests.kube.serviceaccount import operator_kubeconfig
from tidewise.capacity.serverless import break_even_s
from tidewise.catalog import Catalog, serverless_price_per_hour
from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE
from tidewise.kube.api.labels import VIRTUAL_NODE_TAINT
from tidewise.kube.controllers.serverless_burst import OPT_IN
from tidewise.model import PurchaseOption, Resources
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.karpenter import UPSTREAM

pytestmark = pytest.mark.e2e

# the Karpenter build, its CRDs and the catalog's instance types: the Karpenter tests' fixtures
catalog = karpenter_tests.catalog
karpenter_build = karpenter_tests.karpenter_build
installed = karpenter_tests.installed
instance_types = karpenter_tests.instance_types

POOL = "e2e-burst"
TYPE = "m6i.large"
WEB = Resources(cpu_milli=600, memory_mib=512)  # tests.kube.kwok.deployment's pods
BOUND_S = 8.0
BREAK_EVEN_S = 45.0  # long enough to read the burst before the first pod moves back
COST = re.compile(r"ran (\d+) pod-seconds on virtual node (\S+), \$([\d.]+) at \$([\d.]+)/h")


def virtual_node(name: str, selector: dict[str, str]) -> Node:
    """A virtual node as virtual-kubelet registers one (ECI's: the taint, ``type:
    virtual-kubelet``), roomy as a serverless region; kwok keeps it Ready."""
    capacity = {"cpu": "100", "memory": "400Gi", "pods": "1000"}
    labels = {"type": "virtual-kubelet", **selector}
    taint = Taint(key=VIRTUAL_NODE_TAINT, value="kwok", effect="NoSchedule")
    return Node(
        metadata=ObjectMeta(
            name=name, labels=labels, annotations={FAKE_NODE_ANNOTATION: FAKE_NODE_VALUE}
        ),
        spec=NodeSpec(taints=[taint]),
        status=NodeStatus(capacity=capacity, allocatable=capacity),
    )


def overhead_for(catalog: Catalog, seconds: float) -> tuple[float, float]:
    """The VM overhead that puts the twin's break-even of a web pod at ``seconds`` (the
    serverless and spot m6i.large prices from the catalog), and that serverless price."""
    offerings = [o for o in catalog.offerings if o.instance_type.name == TYPE]
    serverless = next(o for o in catalog.offerings if o.option is PurchaseOption.SERVERLESS)
    per_s = break_even_s(WEB, serverless, offerings, 1.0)  # break-even per second of overhead
    assert 0 < per_s < float("inf"), "serverless must cost more than the VM for this test"
    return seconds / per_s, serverless_price_per_hour(serverless, WEB)


@pytest.fixture
def burst_operator(cluster: Cluster, kube: Client, namespace: str, catalog) -> Iterator[float]:
    """``tidewise operator`` with serverless bursts only; yields a web pod's serverless price."""
    overhead_s, price = overhead_for(catalog, BREAK_EVEN_S)
    config = {
        "provisioner": {"enabled": False},
        "controllers": {
            "cronhpa": False,
            "elasticscaler": False,
            "resourcerecommendation": False,
            "serverless_burst": True,
            "serverless_burst_bound_s": BOUND_S,
            "serverless_burst_overhead_s": overhead_s,
            "serverless_burst_period_s": 1,
        },
    }
    path = cluster.folder / f"serverless-burst-{namespace}.yaml"
    path.write_text(yaml.safe_dump(config))
    account = operator_kubeconfig(cluster, kube, namespace, ["serverless-burst"])
    port = free_ports(("health",))["health"]
    options = ["--kubeconfig", str(account), "--config", str(path), "--instance-types", TYPE]
    options += ["--lease-namespace", namespace, "--identity", "burst", "--lease-duration", "6"]
    options += ["--health-host", "127.0.0.1", "--health-port", str(port)]
    log = cluster.folder / "logs/operator-serverless-burst.log"
    with tidewise_process(log, "operator", *options):
        yield price


def cost(cluster: Cluster) -> dict:
    command = [sys.executable, "-m", "tidewise.cli", "cost", "-o", "json", "--by", "namespace"]
    command += ["--kubeconfig", str(cluster.kubeconfig)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def web_pods(kube: Client, namespace: str) -> list[Pod]:
    return [
        p
        for p in kube.list(Pod, namespace=namespace, labels={"app": "web"})
        if not p.metadata.deletionTimestamp
    ]


def events(kube: Client, namespace: str, reason: str) -> list[Event]:
    return [e for e in kube.list(Event, namespace=namespace) if e.reason == reason]


def test_pods_past_the_bound_burst_to_the_virtual_node_and_come_back_when_vms_can_be_bought(
    kube, cluster, installed, instance_types, catalog, namespace, burst_operator
):
    price = burst_operator
    selector = {"e2e-burst": namespace}
    node_name = f"virtual-{namespace}"
    kube.create(virtual_node(node_name, selector))
    try:
        wait_for("the virtual node Ready", lambda: condition(kube.get(Node, node_name), "Ready"))
        blocked = karpenter_tests.pool(POOL, [TYPE], catalog)
        blocked["spec"]["template"]["metadata"]["labels"].update(selector)
        blocked["spec"]["limits"] = {"cpu": "0"}  # Karpenter may buy nothing
        apply(kube, blocked)
        with running_karpenter(kube, cluster, installed, instance_types, namespace, UPSTREAM):
            try:
                _burst_and_back(kube, cluster, namespace, node_name, selector, blocked, price)
            finally:  # what happened, for a failure's report
                for e in sorted(kube.list(Event, namespace=namespace), key=_when):
                    print("event", _when(e), e.involvedObject.name, e.reason, e.message)
    finally:
        kube.delete(Node, node_name)


def _when(event: Event) -> str:
    return str(event.lastTimestamp or event.eventTime or "")


def _burst_and_back(kube, cluster, namespace, node_name, selector, blocked, price):
    kube.create(web_budget(), namespace=namespace)
    web = deployment(3, selector)
    web.spec.template.metadata.annotations = {OPT_IN: "true"}
    kube.create(web, namespace=namespace)

    def on(node: str) -> list[Pod]:
        return [
            p
            for p in web_pods(kube, namespace)
            if p.spec.nodeName == node and condition(p, "Ready")
        ]

    wait_for("3 web pods Running on the virtual node", lambda: len(on(node_name)) == 3, 120)
    assert claims_of(kube, POOL) == [], "the limit blocked every purchase"
    # the contract: each pod told why it went, after the bound, by the operator
    burst = events(kube, namespace, "BurstToVirtualNode")
    assert {e.involvedObject.name for e in burst} == {p.metadata.name for p in on(node_name)}
    for event in burst:
        assert event.source.component == "tidewise-operator"
        waited = float(re.search(r"pending (\d+) s", event.message).group(1))
        assert waited >= BOUND_S - 1  # whole seconds, rounded
        assert f"${price:.6f}/h" in event.message
    # tidewise cost: the pods at the catalog's serverless price, per pod-second so far
    report = cost(cluster)
    serverless = report["serverless"]
    assert serverless["pods"] == 3
    assert serverless["usd"] == pytest.approx(3 * price)
    assert serverless["pod_seconds"] > 0
    assert serverless["usd_so_far"] == pytest.approx(serverless["pod_seconds"] * price / 3600)
    (group,) = [g for g in report["groups"] if g["name"] == namespace]
    assert group["total_usd"] == pytest.approx(3 * price)

    # the limit raised: past the break-even one pod moves back; its replacement (no
    # toleration) makes Karpenter buy a VM; the others follow while VMs have room
    blocked["spec"]["limits"] = {"cpu": "100"}
    apply(kube, blocked)
    with LowestAvailable(kube, namespace) as lowest:

        def all_on_vms() -> bool:
            pods = web_pods(kube, namespace)
            nodes = {n.metadata.name: n for n in kube.list(Node, labels={NODEPOOL_LABEL: POOL})}
            return len(pods) == 3 and all(
                p.spec.nodeName in nodes and condition(p, "Ready") for p in pods
            )

        wait_for("the web pods back on Karpenter's VMs", all_on_vms, 300)
    assert lowest.seen >= 2, "the budget (one unavailable at most) held at every moment"
    moved = events(kube, namespace, "MovedBackToVM")
    assert len(moved) >= 3
    assert "past the break-even" in min(moved, key=lambda e: e.firstTimestamp).message
    for event in moved:
        seconds, where, usd, hourly = COST.search(event.message).groups()
        assert where == node_name and float(hourly) == pytest.approx(price, abs=1e-6)
        assert float(usd) == pytest.approx(int(seconds) * price / 3600, abs=4e-6)
    assert not events(kube, namespace, "MoveBackBlocked")
    assert cost(cluster)["serverless"]["pods"] == 0
