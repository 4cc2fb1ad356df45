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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
import yaml
from lightkube import Client
from lightkube.models.core_v1 import NodeSpec, NodeStatus, Taint
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.karpenter import NODEPOOL_LABEL, apply, claims_of, pool, running_karpenter
from tests.kube.kwok import (
    LowestAvailable,
    condition,
    deployment,
    tidewise_process,
    wait_for,
    web_budget,
)
from tests.kube.serviceaccount import only, operator_kubeconfig
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


@contextmanager
def operator_with_bursts(
    cluster: Cluster, kube: Client, namespace: str, overhead_s: float
) -> Iterator[None]:
    """``tidewise operator`` with serverless bursts only (1 s passes, the bound ``BOUND_S``),
    leading in ``namespace``, as the shipped ServiceAccount with the base RBAC and the
    serverless-burst component; its provisioner off (Karpenter, or nothing, buys VMs)."""
    config = only(
        serverless_burst=True,
        serverless_burst_bound_s=BOUND_S,
        serverless_burst_overhead_s=overhead_s,
        serverless_burst_period_s=1,
    )
    path = cluster.folder / f"serverless-burst-{namespace}.yaml"
    path.write_text(yaml.safe_dump(config))
    account = operator_kubeconfig(cluster, kube, namespace, ["serverless-burst"])
    port = free_ports(("health",))["health"]
    options = ["--kubeconfig", str(account), "--config", str(path)]
    options += ["--instance-types", TYPE, "--lease-namespace", namespace]
    options += ["--identity", "burst", "--lease-duration", "6"]
    options += ["--health-host", "127.0.0.1", "--health-port", str(port)]
    log = cluster.folder / "logs/operator-serverless-burst.log"
    with tidewise_process(log, "operator", *options):
        yield


@pytest.fixture
def burst_operator(
    cluster: Cluster, kube: Client, namespace: str, catalog
) -> Iterator[Callable[[float], float]]:
    """Starts :func:`operator_with_bursts` with the break-even of a web pod at the seconds
    given; returns a web pod's serverless price. Stopped when the test ends."""
    with ExitStack() as stack:

        def start(break_even_s: float) -> float:
            overhead_s, price = overhead_for(catalog, break_even_s)
            stack.enter_context(operator_with_bursts(cluster, kube, namespace, overhead_s))
            return price

        yield start


@contextmanager
def burst_setting(
    kube: Client, cluster: Cluster, installed, instance_types, catalog, namespace: str, cpus: int
) -> Iterator[tuple[str, dict[str, str], dict]]:
    """A virtual node and a NodePool of m6i.large limited to ``cpus`` vCPUs, both picked by
    the test's node selector, with Karpenter running; yields the virtual node's name, the
    selector and the NodePool (to change its limit). The namespace's Events are printed at
    the end, for a failure's report."""
    selector = {"e2e-burst": namespace}
    node_name = f"virtual-{namespace}"
    kube.create(virtual_node(node_name, selector))
    try:
        wait_for("the virtual node Ready", lambda: condition(kube.get(Node, node_name), "Ready"))
        limited = pool(POOL, [TYPE], catalog)
        limited["spec"]["template"]["metadata"]["labels"].update(selector)
        limited["spec"]["limits"] = {"cpu": str(cpus)}
        apply(kube, limited)
        with running_karpenter(kube, cluster, installed, instance_types, namespace, UPSTREAM):
            try:
                yield node_name, selector, limited
            finally:
                for e in sorted(kube.list(Event, namespace=namespace), key=_when):
                    print("event", _when(e), e.involvedObject.name, e.reason, e.message)
    finally:
        kube.delete(Node, node_name)


def _when(event: Event) -> str:
    return str(event.lastTimestamp or event.eventTime or "")


def workload(name: str, replicas: int, selector: dict[str, str], opted: bool) -> Deployment:
    """``name``: pods of 600m and 512Mi labelled ``app: name``, opted in to bursts or not."""
    made = deployment(replicas, selector)
    labels = {"app": name}
    made.metadata.name = name
    made.spec.selector = LabelSelector(matchLabels=labels)
    made.spec.template.metadata.labels = labels
    if opted:
        made.spec.template.metadata.annotations = {OPT_IN: "true"}
    return made


def cost(cluster: Cluster) -> dict:
    command = [sys.executable, "-m", "tidewise.cli", "cost", "-o", "json", "--by", "namespace"]
    command += ["--kubeconfig", str(cluster.kubeconfig)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def web_pods(kube: Client, namespace: str, app: str = "web") -> list[Pod]:
    return [
        p
        for p in kube.list(Pod, namespace=namespace, labels={"app": app})
        if not p.metadata.deletionTimestamp
    ]


def on_pool_nodes(kube: Client, namespace: str, app: str, count: int) -> bool:
    """``count`` pods of ``app``, every one Ready on a node Karpenter bought for the pool."""
    pods = web_pods(kube, namespace, app)
    nodes = {n.metadata.name for n in kube.list(Node, labels={NODEPOOL_LABEL: POOL})}
    return len(pods) == count and all(
        p.spec.nodeName in nodes and condition(p, "Ready") for p in pods
    )


def events(kube: Client, namespace: str, reason: str) -> list[Event]:
    return [e for e in kube.list(Event, namespace=namespace) if e.reason == reason]


def burst_told(kube: Client, namespace: str) -> set[str]:
    return {e.involvedObject.name for e in events(kube, namespace, "BurstToVirtualNode")}


def test_pods_past_the_bound_burst_to_the_virtual_node_and_come_back_when_vms_can_be_bought(
    kube, cluster, installed, instance_types, catalog, namespace, burst_operator
):
    """The NodePool's limit (0 vCPU) blocks every purchase, then is raised."""
    price = burst_operator(BREAK_EVEN_S)
    setting = burst_setting(kube, cluster, installed, instance_types, catalog, namespace, 0)
    with setting as (node_name, selector, blocked):
        _burst_and_back(kube, cluster, namespace, node_name, selector, blocked, price)


def _burst_and_back(kube, cluster, namespace, node_name, selector, blocked, price):
    kube.create(web_budget(), namespace=namespace)
    kube.create(workload("web", 3, selector, opted=True), namespace=namespace)

    def on(node: str) -> list[Pod]:
        return [
            p
            for p in web_pods(kube, namespace)
            if p.spec.nodeName == node and condition(p, "Ready")
        ]

    wait_for("3 web pods Running on the virtual node", lambda: len(on(node_name)) == 3, 120)
    assert claims_of(kube, POOL) == [], "the limit blocked every purchase"
    # the contract: each pod told why it went, after the bound, by the operator
    told = {p.metadata.name for p in on(node_name)}  # an Event follows its pod's patch
    wait_for("each burst pod told", lambda: burst_told(kube, namespace) == told)
    burst = events(kube, namespace, "BurstToVirtualNode")
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
        wait_for(
            "the web pods back on Karpenter's VMs",
            lambda: on_pool_nodes(kube, namespace, "web", 3),
            300,
        )
    assert lowest.seen >= 2, "the budget (one unavailable at most) held at every moment"
    wait_for("each moved pod told", lambda: len(events(kube, namespace, "MovedBackToVM")) >= 3)
    moved = events(kube, namespace, "MovedBackToVM")
    assert "past the break-even" in min(moved, key=lambda e: e.firstTimestamp).message
    for event in moved:
        seconds, where, usd, hourly = COST.search(event.message).groups()
        assert where == node_name and float(hourly) == pytest.approx(price, abs=1e-6)
        assert float(usd) == pytest.approx(int(seconds) * price / 3600, abs=4e-6)
    assert not events(kube, namespace, "MoveBackBlocked")
    assert cost(cluster)["serverless"]["pods"] == 0


def test_burst_pods_move_back_as_soon_as_a_vm_has_room(
    kube, cluster, installed, instance_types, catalog, namespace, burst_operator
):
    """A NodePool limited to one m6i.large, which a workload that did not opt in fills: the
    web pods burst; when that workload scales to zero, they move back into the room it left,
    with no VM bought (their break-even is 10 minutes away: only room brings them back)."""
    burst_operator(600.0)
    setting = burst_setting(kube, cluster, installed, instance_types, catalog, namespace, 2)
    with setting as (node_name, selector, _):
        kube.create(workload("batch", 3, selector, opted=False), namespace=namespace)
        wait_for("batch on the pool's one VM", lambda: on_pool_nodes(kube, namespace, "batch", 3))
        (claim,) = claims_of(kube, POOL)
        kube.create(web_budget(), namespace=namespace)
        kube.create(workload("web", 2, selector, opted=True), namespace=namespace)

        def burst() -> bool:
            pods = web_pods(kube, namespace)
            return len(pods) == 2 and all(
                p.spec.nodeName == node_name and condition(p, "Ready") for p in pods
            )

        wait_for("2 web pods Running on the virtual node", burst, 120)
        told = {p.metadata.name for p in web_pods(kube, namespace)}
        wait_for("each burst pod told", lambda: burst_told(kube, namespace) == told)
        kube.patch(Deployment, "batch", {"spec": {"replicas": 0}}, namespace=namespace)
        with LowestAvailable(kube, namespace) as lowest:
            wait_for(
                "the web pods moved into the VM's room",
                lambda: on_pool_nodes(kube, namespace, "web", 2),
                120,
            )
        assert lowest.seen >= 1, "the budget (one unavailable at most) held at every moment"
        wait_for("each moved pod told", lambda: len(events(kube, namespace, "MovedBackToVM")) >= 2)
        moved = events(kube, namespace, "MovedBackToVM")
        assert len(moved) == 2
        # the claim as it is now (read before, it may not have named its node yet): still the
        # only one, so no VM was bought for the move
        (now,) = claims_of(kube, POOL)
        assert now.metadata.name == claim.metadata.name
        node = now["status"]["nodeName"]
        assert all(f"node {node} has room" in e.message for e in moved)
