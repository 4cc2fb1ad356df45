"""The provisioner buys kwok nodes for a Deployment scaled beyond the cluster, then drains
them away within the Deployment's PodDisruptionBudget.

It runs as its own process (``tidewise provisioner run``), with timings shortened so a
scale-down comes within a test's patience: 1 s rounds, nodes boot in 2 s, a node under-used
for 3 s goes, no scale-down within 5 s of a scale-up.
"""

import math
import time

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Node

from tests.kube.kwok import (
    LowestAvailable,
    available,
    deployment,
    provisioner_process,
    tidewise_process,
    wait_for,
    web_budget,
)
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.provider.interface import CAPACITY_TYPE, INSTANCE_TYPE, PROVISIONER
from tidewise.testenv import Cluster

pytestmark = pytest.mark.e2e

TYPE = "m6i.large"  # 2 vCPU, 8 GiB: three 600m pods per node
PODS_PER_NODE = 3
REPLICAS = 6
KWOK = {PROVISIONER: "kwok"}


@pytest.fixture
def provisioner(cluster: Cluster):
    with provisioner_process(cluster.folder, cluster.kubeconfig, "provisioner", 3) as process:
        yield process


def kwok_nodes(kube: Client) -> list[Node]:
    return list(kube.list(Node, labels=KWOK))


def test_scaled_beyond_the_cluster_then_drained_within_the_budget(kube, provisioner, provisioned):
    namespace = provisioned
    kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
    kube.create(web_budget(), namespace=namespace)
    wait_for("every replica running", lambda: available(kube, namespace) == REPLICAS, deadline=180)

    nodes = kwok_nodes(kube)
    catalog = load_catalog(
        builtin_catalog_path("aws-us-east-1"), provider="aws", instance_types=[TYPE]
    )
    bought = [o for o in catalog.offerings if o.option in ("on-demand", "spot")]
    cheapest = min(bought, key=lambda o: o.price_per_hour)
    assert len(nodes) == math.ceil(REPLICAS / PODS_PER_NODE)
    for node in nodes:
        labels = node.metadata.labels
        assert (labels[INSTANCE_TYPE], labels[CAPACITY_TYPE]) == (TYPE, cheapest.option.value)

    left = REPLICAS // 2
    kube.patch(Deployment, "web", {"spec": {"replicas": left}}, namespace=namespace)
    wait_for("the scale-down seen", lambda: available(kube, namespace) == left)
    with LowestAvailable(kube, namespace) as lowest:
        wait_for("one node left", lambda: len(kwok_nodes(kube)) == 1, deadline=180)
        wait_for("every replica running again", lambda: available(kube, namespace) == left)
    assert lowest.seen >= left - 1
    assert provisioner.poll() is None, "the provisioner died"

    # the decisions explained where `kubectl describe` looks: on the pods and on the node
    scale_ups = [e for e in kube.list(Event, namespace=namespace) if e.reason == "TriggeredScaleUp"]
    assert scale_ups, "no pod was told why a node was bought"
    assert all(f"{TYPE}/" in e.message and e.involvedObject.kind == "Pod" for e in scale_ups)
    gone = {n.metadata.name for n in nodes} - {n.metadata.name for n in kwok_nodes(kube)}
    node_events = kube.list(Event, namespace="default", fields={"reason": "ScaleDown"})
    assert gone <= {e.involvedObject.name for e in node_events}


def test_an_unschedulable_pod_starts_a_round_without_waiting_for_the_period(
    cluster: Cluster, kube, provisioned
):
    namespace = provisioned
    options = ["--kubeconfig", str(cluster.kubeconfig), "--instance-types", TYPE]
    slow = ["--boot-delay", "2", "--period", "120"]  # rounds 2 minutes apart unless woken
    log = cluster.folder / "logs/provisioner-slow.log"
    with tidewise_process(log, "provisioner", "run", *options, *slow) as process:
        wait_for("the provisioner started", lambda: "rounds every 120 s" in log.read_text())
        time.sleep(3)  # its first round, on an idle cluster, is over
        asked = time.monotonic()
        kube.create(deployment(PODS_PER_NODE, KWOK), namespace=namespace)
        wait_for("a node bought", lambda: bool(kwok_nodes(kube)), deadline=100)
        reaction_s = time.monotonic() - asked
        wait_for("every replica running", lambda: available(kube, namespace) == PODS_PER_NODE)
        assert process.poll() is None
    assert reaction_s < 60, f"a node came {reaction_s:.0f} s after the pods: the period's pace"
