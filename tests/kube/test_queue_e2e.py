"""The training queue on the real control plane: ``tidewise job submit --cluster kube``
creates a suspended Job; ``tidewise queue run`` admits it by un-suspending once its worker
fits, and meanwhile writes its position and reason, which ``tidewise job get`` shows.

kwok completes a Job's pods as soon as they run, so a started job is RUNNING or SUCCEEDED.
The GPU nodes here carry no kwok taint: the rendered Job is what a user submits, with no
toleration for fake nodes, so these nodes stand for the cluster's real GPU pool (each test
deletes them).
"""

import json
import subprocess
import sys
import time
import uuid

import pytest
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.kwok import condition, fake_node, operator_process, tidewise_process, wait_for
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.resources import MODEL_LABEL
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

STARTED = ("PENDING", "RUNNING", "SUCCEEDED")
CATALOG = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


def gpu_node(kube: Client, name: str, gpus: int, labels: dict[str, str] | None = None) -> None:
    node = fake_node(name, {"nvidia.com/gpu": str(gpus)}, {MODEL_LABEL: "A100", **(labels or {})})
    node.spec.taints = []
    kube.create(node)
    wait_for(f"{name} Ready", lambda: condition(kube.get(Node, name), "Ready"))


def job(
    cluster: Cluster, namespace: str, verb: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``tidewise job VERB --cluster kube ... ARGS`` (options first: ARGS may end in ``-- cmd``)."""
    command = [sys.executable, "-m", "tidewise.cli", "job", verb, "--cluster", "kube"]
    command += ["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def get(cluster: Cluster, namespace: str, name: str) -> dict:
    answer = job(cluster, namespace, "get", name, "-o", "json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


@pytest.fixture(params=["queue run", "operator --training-queue"])
def queue_controller(request, cluster: Cluster, kube: Client, provisioned: str):
    """The queue controller on its own, or inside ``tidewise operator`` (leading in the test's
    namespace); the process, for its liveness."""
    log = cluster.folder / "logs/queue.log"
    if request.param == "queue run":
        options = ["--kubeconfig", str(cluster.kubeconfig), "--period", "1"]
        with tidewise_process(log, "queue", "run", *options) as process:
            yield process
        return
    port = free_ports(("operator",))["operator"]
    extra = ("--training-queue", "--queue-period", "1")
    with operator_process(cluster, kube, provisioned, "queue-leader", port, *extra) as process:
        yield process


@pytest.fixture
def gpu_pool(kube: Client):
    names: list[str] = []
    yield names
    for name in names:
        kube.delete(Node, name)


def test_a_job_waits_while_it_cannot_fit_and_starts_when_nodes_arrive(
    cluster: Cluster, kube: Client, namespace: str, gpu_pool: list[str], queue_controller
):
    suffix = uuid.uuid4().hex[:6]
    gpu_pool.append(f"gpu4-{suffix}")
    gpu_node(kube, gpu_pool[0], 4)
    controller = queue_controller
    image = ["--image", "busybox", "--cpu", "1", "--memory", "1Gi"]
    submitted = job(cluster, namespace, "submit", "big", "--gpus", "8", *image, "--", "train")
    assert submitted.returncode == 0, submitted.stderr
    small = job(cluster, namespace, "submit", "small", "--gpus", "1", *image)
    assert small.returncode == 0, small.stderr

    wait_for(
        "the small job admitted",
        lambda: get(cluster, namespace, "small")["status"] in STARTED,
    )
    wait_for("the big job's reason", lambda: bool(get(cluster, namespace, "big")["reason"]))
    waiting = get(cluster, namespace, "big")
    assert waiting["status"] == "QUEUING" and waiting["position"] == 1
    assert "8" in waiting["reason"] or "fit" in waiting["reason"], waiting["reason"]
    assert kube.get(Job, "big", namespace=namespace).spec.suspend is True
    assert not list(kube.list(Pod, namespace=namespace, labels={"tidewise.io/job": "big"}))

    gpu_pool.append(f"gpu8-{suffix}")
    p4d = {
        "node.kubernetes.io/instance-type": "p4d.24xlarge",
        "topology.kubernetes.io/zone": "use1-az1",
    }
    arrived = time.time()
    gpu_node(kube, gpu_pool[1], 8, p4d)  # the nodes arrive (one the catalog prices)
    wait_for(
        "the big job's pod run",
        lambda: bool(get(cluster, namespace, "big")["nodes"]),
        deadline=120,
    )
    running = get(cluster, namespace, "big")
    assert running["status"] in STARTED and running["position"] is None
    assert running["nodes"] == [gpu_pool[1]]
    assert get(cluster, namespace, "small")["nodes"] == [gpu_pool[0]]
    reasons = {
        e.reason for e in kube.list(Event, namespace=namespace) if e.involvedObject.name == "big"
    }
    assert {"Waiting", "Admitted"} <= reasons
    assert controller.poll() is None, "the queue controller died"

    listed = {
        r["name"]: r for r in json.loads(job(cluster, namespace, "list", "-o", "json").stdout)
    }
    assert sorted(listed) == ["big", "small"]
    # cost so far (kwok ends a Job's pod the moment it runs, so it is near zero; the split
    # itself is tests/kube/test_cost.py's): priced, and at most the whole p4d since it came;
    # small's node has no type the catalog knows, so it costs nothing
    hourly = CATALOG.offering("p4d.24xlarge", "use1-az1", "on-demand").price_per_hour
    assert 0 <= listed["big"]["cost_usd"] <= hourly * (time.time() - arrived) / 3600
    assert listed["small"]["cost_usd"] == 0
    deleted = job(cluster, namespace, "delete", "big")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(
        "big gone",
        lambda: "big" not in {j.metadata.name for j in kube.list(Job, namespace=namespace)},
    )
