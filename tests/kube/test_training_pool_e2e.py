"""The training pool from zero on a real cluster: an 8-GPU job on a cluster with no GPU node.

The queue controller (``tidewise queue run``, as the shipped ServiceAccount with the
training-queue component's RBAC and PriorityClass) finds no node for the gang and makes
placeholder pods of its shape; the real Karpenter (kwok provider, tidewise's catalog) buys
the node for them; the next pass admits the job onto it and deletes the placeholders; kwok
completes the job's pod; the node, empty, is consolidated away by the NodePool's disruption
settings as tidewise renders them.
"""

from collections.abc import Iterator
from datetime import datetime

import pytest
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.karpenter import KWOK_CLASS, apply, claims_of, condition, running_karpenter
from tests.kube.kwok import tidewise_process, wait_for
from tests.kube.serviceaccount import components_for, operator_kubeconfig
from tests.kube.test_karpenter_e2e import (  # noqa: F401  (module fixtures shared)
    catalog,
    installed,
    instance_types,
    karpenter_build,
)
from tests.kube.test_queue_e2e import get, job
from tidewise.capacity.karpenter import NodePoolSpec
from tidewise.capacity.karpenter.nodepools import node_pool
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.catalog import Catalog
from tidewise.kube.jobs.observe import PLACEHOLDER_LABEL
from tidewise.kube.jobs.placeholders import PRIORITY_CLASS
from tidewise.testenv import Cluster
from tidewise.testenv.karpenter import UPSTREAM

pytestmark = pytest.mark.e2e

POOL = "e2e-training"
EIGHT_GPUS = "p4d.24xlarge"  # the catalog's only 8-GPU type
IDLE_S = 15  # the NodePool's consolidateAfter: long enough for the job's pod to arrive


@pytest.fixture
def karpenter(kube, cluster, installed, instance_types, namespace) -> Iterator[str]:  # noqa: F811
    with running_karpenter(kube, cluster, installed, instance_types, namespace, UPSTREAM):
        yield namespace


@pytest.fixture
def queue_controller(cluster: Cluster, kube: Client, karpenter: str):
    """``tidewise queue run`` as the operator's ServiceAccount (RBAC and PriorityClass of the
    training-queue component, applied as deployed)."""
    config = operator_kubeconfig(cluster, kube, karpenter, components_for(("--training-queue",)))
    log = cluster.folder / "logs/training-pool-queue.log"
    options = ["--kubeconfig", str(config), "--period", "1"]
    with tidewise_process(log, "queue", "run", *options) as process:
        yield process


def gpu_pool(catalog: Catalog, gpus: int) -> dict:  # noqa: F811
    """Every GPU type of the catalog, at most ``gpus`` GPUs, empty nodes going after
    ``IDLE_S`` (tidewise's render, with the test's short unneeded time)."""
    types = tuple(sorted(n for n, t in catalog.instance_types.items() if t.gpu_count))
    settings = NodeAutoscalerSettings(unneeded_s=IDLE_S)
    rendered = node_pool(NodePoolSpec(POOL, types), catalog.offerings, [], KWOK_CLASS, settings)
    rendered["spec"]["limits"] = {"nvidia.com/gpu": str(gpus)}
    return rendered


def events_of(kube: Client, namespace: str, name: str) -> dict[str, Event]:
    """The latest Event of each reason about ``name``."""
    found: dict[str, Event] = {}
    for event in kube.list(Event, namespace=namespace, fields={"involvedObject.name": name}):
        found[event.reason] = event
    return found


def stamp(value: datetime | str) -> float:
    return (
        value.timestamp()
        if isinstance(value, datetime)
        else datetime.fromisoformat(value).timestamp()
    )


def test_an_8_gpu_job_buys_its_node_runs_there_and_the_node_goes_after(
    kube,
    cluster,
    catalog,  # noqa: F811
    karpenter,
    queue_controller,
):
    namespace = karpenter
    assert not [n for n in kube.list(Node) if (n.status.allocatable or {}).get("nvidia.com/gpu")]
    apply(kube, gpu_pool(catalog, 8))
    image = ["--image", "busybox", "--cpu", "4", "--memory", "16Gi"]
    submitted = job(cluster, namespace, "submit", "train", "--gpus", "8", *image, "--", "train")
    assert submitted.returncode == 0, submitted.stderr

    # no node: placeholders of the worker's shape, owned by the job, lowest priority
    wait_for("placeholders", lambda: "PlaceholdersCreated" in events_of(kube, namespace, "train"))
    created = events_of(kube, namespace, "train")["PlaceholdersCreated"]
    assert "8 GPUs" in created.message, created.message
    owner = kube.get(Job, "train", namespace=namespace)
    assert owner.spec.suspend is True
    (placeholder,) = kube.list(Pod, namespace=namespace, labels={PLACEHOLDER_LABEL: "train"})
    assert placeholder.spec.priorityClassName == PRIORITY_CLASS
    assert placeholder.spec.priority == -10
    assert placeholder.metadata.ownerReferences[0].uid == owner.metadata.uid
    assert placeholder.spec.containers[0].resources.requests["nvidia.com/gpu"] == "8"

    # Karpenter buys the 8-GPU node for them
    def bought() -> bool:
        return any(condition(c, "Initialized") for c in claims_of(kube, POOL))

    wait_for("Karpenter's node for the gang", bought, deadline=180)
    (claim,) = claims_of(kube, POOL)
    assert claim["metadata"]["labels"]["node.kubernetes.io/instance-type"] == EIGHT_GPUS
    node = claim["status"]["nodeName"]

    # the job is admitted onto it and its pod runs there; the placeholders go
    wait_for("the job's pod placed", lambda: bool(get(cluster, namespace, "train")["nodes"]))
    assert get(cluster, namespace, "train")["nodes"] == [node]
    wait_for(
        "the placeholders deleted",
        lambda: not list(kube.list(Pod, namespace=namespace, labels={PLACEHOLDER_LABEL: "train"})),
    )
    events = events_of(kube, namespace, "train")
    assert {"Waiting", "PlaceholdersCreated", "Admitted", "PlaceholdersRemoved"} <= set(events)
    assert node in events["Admitted"].message
    assert events["PlaceholdersRemoved"].message.startswith("admitted")
    # the node was bought before the job was admitted: for the placeholders
    assert stamp(created.lastTimestamp) <= stamp(claim["metadata"]["creationTimestamp"])
    assert stamp(claim["metadata"]["creationTimestamp"]) <= stamp(events["Admitted"].lastTimestamp)

    def finished() -> bool:
        conditions = kube.get(Job, "train", namespace=namespace).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    wait_for("the job complete", finished, deadline=120)
    assert get(cluster, namespace, "train")["status"] == "SUCCEEDED"

    # with no work left, Karpenter takes the GPU node away (the rendered disruption)
    def gone() -> bool:
        return not claims_of(kube, POOL) and node not in {n.metadata.name for n in kube.list(Node)}

    wait_for("the GPU node consolidated away", gone, deadline=IDLE_S + 120)
    assert queue_controller.poll() is None, "the queue controller died"
