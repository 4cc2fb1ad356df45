"""The provisioner buys kwok nodes for a Deployment scaled beyond the cluster, then drains
them away within the Deployment's PodDisruptionBudget.

It runs as its own process (``tidewise provisioner run``), with timings shortened so a
scale-down comes within a test's patience: 1 s rounds, nodes boot in 2 s, a node under-used
for 3 s goes, no scale-down within 5 s of a scale-up.
"""

import math
import subprocess
import sys
import threading
import uuid

import pytest
from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.policy_v1 import PodDisruptionBudgetSpec
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, ServiceAccount
from lightkube.resources.policy_v1 import PodDisruptionBudget

from tests.kube.kwok import fake_pod_spec, wait_for
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.provider.interface import CAPACITY_TYPE, INSTANCE_TYPE, PROVISIONER
from tidewise.kube.testenv import Cluster

pytestmark = pytest.mark.e2e

TYPE = "m6i.large"  # 2 vCPU, 8 GiB: three 600m pods per node
PODS_PER_NODE = 3
REPLICAS = 6
KWOK = {PROVISIONER: "kwok"}


@pytest.fixture
def provisioner(cluster: Cluster):
    command = [sys.executable, "-m", "tidewise.cli", "provisioner", "run"]
    options = ["--kubeconfig", str(cluster.kubeconfig), "--instance-types", TYPE]
    timings = ["--boot-delay", "2", "--period", "1", "--unneeded", "3", "--delay-after-add", "5"]
    with open(cluster.folder / "logs/provisioner.log", "ab") as log:
        process = subprocess.Popen([*command, *options, *timings], stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def namespace(kube: Client):
    name = f"provision-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    wait_for(
        "the default service account", lambda: bool(list(kube.list(ServiceAccount, namespace=name)))
    )
    yield name
    kube.delete(Namespace, name)
    for node in kube.list(Node, labels=KWOK):
        kube.delete(Node, node.metadata.name)


def kwok_nodes(kube: Client) -> list[Node]:
    return list(kube.list(Node, labels=KWOK))


def available(kube: Client, namespace: str) -> int:
    return kube.get(Deployment, "web", namespace=namespace).status.availableReplicas or 0


def deployment(replicas: int) -> Deployment:
    labels = {"app": "web"}
    spec = fake_pod_spec({"cpu": "600m", "memory": "512Mi"}, KWOK)
    template = PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec)
    return Deployment(
        metadata=ObjectMeta(name="web"),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


def test_scaled_beyond_the_cluster_then_drained_within_the_budget(kube, provisioner, namespace):
    kube.create(deployment(REPLICAS), namespace=namespace)
    budget = PodDisruptionBudgetSpec(
        maxUnavailable=1, selector=LabelSelector(matchLabels={"app": "web"})
    )
    kube.create(
        PodDisruptionBudget(metadata=ObjectMeta(name="web"), spec=budget), namespace=namespace
    )
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
    lowest = [left]
    watching = threading.Event()

    def watch_availability() -> None:
        while not watching.is_set():
            lowest[0] = min(lowest[0], available(kube, namespace))
            watching.wait(0.2)

    kube.patch(Deployment, "web", {"spec": {"replicas": left}}, namespace=namespace)
    wait_for("the scale-down seen", lambda: available(kube, namespace) == left)
    watcher = threading.Thread(target=watch_availability)
    watcher.start()
    try:
        wait_for("one node left", lambda: len(kwok_nodes(kube)) == 1, deadline=180)
        wait_for("every replica running again", lambda: available(kube, namespace) == left)
    finally:
        watching.set()
        watcher.join()
    assert lowest[0] >= left - 1
    assert provisioner.poll() is None, "the provisioner died"
