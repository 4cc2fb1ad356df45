"""GPU pools from zero on a real cluster, bought by the real Karpenter (kwok provider,
tidewise's catalog) as tidewise steers it.

**The training pool.** An 8-GPU job on a cluster with no GPU node. The queue controller
(``tidewise queue run``, as the shipped ServiceAccount with the training-queue component's RBAC
and PriorityClass) finds no node for the gang and makes placeholder pods of its shape; the real
Karpenter (kwok provider, tidewise's catalog) buys the node for them; the next pass admits the
job onto it and deletes the placeholders; kwok completes the job's pod; the node, empty, is
consolidated away by the NodePool's disruption settings as tidewise renders them.

**GPU shares.** Twelve pods asking a quarter of a T4 each (``aliyun.com/gpu-mem: 4`` of its 16
GiB) and no GPU node: Karpenter buys three T4s, and only through tidewise's
``tidewise-gpu-share-<type>`` NodeOverlay, which tells it what the device plugin will
advertise. On a real node tidewise's device plugin advertises the shares once the node runs;
the kwok provider puts on the Node only what the NodeClaim requested of them, so
:class:`DevicePluginStandIn` writes what the plugin would (its own ``units`` rule, per GPU of
the node's type) and the labels GPU feature discovery would, and nothing else. The
GPU-share extender then binds the pods, as on a real cluster.
"""

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from lightkube import ApiError, Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.types import CascadeType

from tests.kube.gpushare import assert_no_gpu_over_committed
from tests.kube.karpenter import (
    KWOK_CLASS,
    NODEPOOL_LABEL,
    apply,
    claims_of,
    condition,
    overlay_applied,
    running_karpenter,
)
from tests.kube.karpenter import NodePool as KarpenterNodePool
from tests.kube.kwok import Poller, fake_pod_spec, tidewise_process, wait_for
from tests.kube.serviceaccount import components_for, operator_kubeconfig
from tests.kube.test_queue_e2e import get, job
from tidewise.capacity.karpenter import NodePoolSpec
from tidewise.capacity.karpenter.instance_types import INSTANCE_TYPE
from tidewise.capacity.karpenter.nodepools import POOL_LABEL, node_pool
from tidewise.capacity.karpenter.overlays import gpu_share_overlays
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.catalog import Catalog
from tidewise.kube.api.annotations import GPU_INDEX
from tidewise.kube.api.gpu import Gpu
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    GPU_MEMORY_LABEL,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    MODEL_LABEL,
)
from tidewise.kube.deviceplugin.devices import units
from tidewise.kube.jobs.observe import PLACEHOLDER_LABEL
from tidewise.kube.jobs.placeholders import PRIORITY_CLASS
from tidewise.testenv import Cluster
from tidewise.testenv.karpenter import UPSTREAM

pytestmark = pytest.mark.e2e

POOL = "e2e-training"
EIGHT_GPUS = "p4d.24xlarge"  # the catalog's only 8-GPU type
IDLE_S = 15  # the NodePool's consolidateAfter: long enough for the job's pod to arrive


@pytest.fixture
def karpenter(kube, cluster, installed, instance_types, namespace) -> Iterator[str]:
    with running_karpenter(kube, cluster, installed, instance_types, namespace, UPSTREAM):
        yield namespace


def queue_run(cluster: Cluster, kube: Client, namespace: str):
    """``tidewise queue run`` as the operator's ServiceAccount (RBAC and PriorityClass of the
    training-queue component, applied as deployed), until the block ends."""
    config = operator_kubeconfig(cluster, kube, namespace, components_for(("--training-queue",)))
    log = cluster.folder / "logs/training-pool-queue.log"
    options = ["--kubeconfig", str(config), "--period", "1"]
    return tidewise_process(log, "queue", "run", *options)


@pytest.fixture
def queue_controller(cluster: Cluster, kube: Client, karpenter: str):
    with queue_run(cluster, kube, karpenter) as process:
        yield process


def gpu_pool(catalog: Catalog, gpus: int) -> dict:
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
    catalog,
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


def placeholders(kube: Client, namespace: str, job_name: str) -> list[Pod]:
    return list(kube.list(Pod, namespace=namespace, labels={PLACEHOLDER_LABEL: job_name}))


def count_events(kube: Client, namespace: str, name: str, reason: str) -> int:
    events = kube.list(Event, namespace=namespace, fields={"involvedObject.name": name})
    return sum(1 for e in events if e.reason == reason)


def test_placeholders_live_in_the_api_across_a_restart_and_go_with_their_job(
    kube,
    cluster,
    catalog,
    installed,
    namespace,
):
    """A restarted controller finds the placeholders by label: no second set, no second
    Event; deleting the job (the controller stopped) takes them with it, through the
    garbage collector and their owner reference."""

    def reason(name: str) -> str | None:
        return get(cluster, namespace, name)["reason"]

    apply(kube, gpu_pool(catalog, 8))
    try:
        image = ["--image", "busybox", "--cpu", "4", "--memory", "16Gi"]
        submitted = job(cluster, namespace, "submit", "hold", "--gpus", "8", *image)
        assert submitted.returncode == 0, submitted.stderr
        with queue_run(cluster, kube, namespace):
            wait_for("placeholders", lambda: len(placeholders(kube, namespace, "hold")) == 1)
        (first,) = placeholders(kube, namespace, "hold")
        assert first.spec.nodeName is None  # nobody buys: it waits for a node
        # a 16-GPU job submitted now, past the quota of 8 (the pool's room): the restarted
        # controller's pass shows as its reason
        probe = job(cluster, namespace, "submit", "probe", "--gpus", "16", *image)
        assert probe.returncode == 0, probe.stderr
        with queue_run(cluster, kube, namespace) as restarted:
            wait_for(
                "a pass of the restarted controller", lambda: "quota" in (reason("probe") or "")
            )
            time.sleep(3)  # a few more passes of 1 s
            assert restarted.poll() is None
        # only gangs the queue would admit get places: none for the one over quota
        assert placeholders(kube, namespace, "probe") == []
        assert [p.metadata.uid for p in placeholders(kube, namespace, "hold")] == [
            first.metadata.uid
        ]
        assert count_events(kube, namespace, "hold", "PlaceholdersCreated") == 1
        kube.delete(Job, "hold", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for("the garbage collector", lambda: not placeholders(kube, namespace, "hold"))
        kube.delete(Job, "probe", namespace=namespace, cascade=CascadeType.BACKGROUND)
    finally:
        kube.delete(KarpenterNodePool, POOL)


SHARE_POOL = "e2e-gpu-share"
T4 = "g4dn.xlarge"  # one T4 of 16 GiB
QUARTER_T4 = {"cpu": "250m", "memory": "512Mi", GPU_MEM: "4"}
SHARES = 12
ADVERTISED = (GPU_MEM, GPU_COUNT, HAMI_GPU_MEM, HAMI_GPU_CORES)
SPLIT = 10  # HAMi's deviceSplitCount, the plugin's default (nvidia.com/gpu is kwok's here)


class DevicePluginStandIn(Poller):
    """What tidewise's device plugin (the share resources, by its ``units`` rule) and GPU
    feature discovery (model and per-GPU memory labels) would put on each node of ``pool``,
    read from the catalog's type of the node: on kwok no kubelet runs a plugin. ``found``:
    the share resources each node had before (what the kwok provider gave it)."""

    every_s = 0.5

    def __init__(self, kube: Client, catalog: Catalog, pool: str) -> None:
        super().__init__()
        self.kube, self.catalog, self.pool = kube, catalog, pool
        self.advertised: dict[str, dict[str, str]] = {}
        self.found: dict[str, dict[str, str]] = {}

    def look(self) -> None:
        for node in self.kube.list(Node, labels={NODEPOOL_LABEL: self.pool}):
            name = node.metadata.name
            if name in self.advertised:
                continue
            itype = self.catalog.instance_types[node.metadata.labels[INSTANCE_TYPE]]
            gpus = [
                Gpu(i, f"GPU-{name}-{i}", itype.gpu_model or "", itype.gpu_memory_mib)
                for i in range(itype.gpu_count)
            ]
            shares = {r: str(sum(units(r, gpu, SPLIT) for gpu in gpus)) for r in ADVERTISED}
            labels = {MODEL_LABEL: itype.gpu_model, GPU_MEMORY_LABEL: str(itype.gpu_memory_mib)}
            try:
                self.kube.patch(Node, name, {"metadata": {"labels": labels}})
                status = {"capacity": shares, "allocatable": shares}
                self.kube.patch(Node.Status, name, {"status": status})
            except ApiError:  # went while we looked: nothing to advertise
                continue
            allocatable = node.status.allocatable or {}
            self.found[name] = {r: allocatable[r] for r in ADVERTISED if r in allocatable}
            self.advertised[name] = shares


def share_deployment(replicas: int) -> Deployment:
    """``replicas`` pods of a quarter T4 on the share pool (a Deployment: see
    ``pending_workload`` in test_karpenter_e2e.py for why not bare pods)."""
    labels = {"app": "shares"}
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels=labels),
        spec=fake_pod_spec(QUARTER_T4, {POOL_LABEL: SHARE_POOL}),
    )
    return Deployment(
        metadata=ObjectMeta(name="shares"),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


def karpenter_could_not_schedule(kube: Client, namespace: str) -> list[str]:
    return [
        e.message
        for e in kube.list(Event, namespace=namespace)
        if e.reason == "FailedScheduling" and (e.source and e.source.component) == "karpenter"
    ]


def test_twelve_quarter_gpu_pods_buy_three_t4s_through_the_share_overlay(
    kube,
    extender,
    catalog,
    karpenter,
):
    namespace = karpenter
    t4 = catalog.instance_types[T4]
    settings = NodeAutoscalerSettings()
    apply(
        kube,
        node_pool(NodePoolSpec(SHARE_POOL, (T4,)), catalog.offerings, [], KWOK_CLASS, settings),
    )
    extender.start()
    kube.create(share_deployment(SHARES), namespace=namespace)

    # without the overlay Karpenter knows no type that has aliyun.com/gpu-mem: it buys nothing
    wait_for(
        "Karpenter to find no type for the shares",
        lambda: bool(karpenter_could_not_schedule(kube, namespace)),
        deadline=90,
    )
    assert claims_of(kube, SHARE_POOL) == []

    (overlay,) = gpu_share_overlays([t4])
    assert overlay["metadata"]["name"] == f"tidewise-gpu-share-{T4}"
    apply(kube, overlay)
    wait_for(
        "the share overlay validated", lambda: overlay_applied(kube, overlay["metadata"]["name"])
    )

    with DevicePluginStandIn(kube, catalog, SHARE_POOL) as stand_in:

        def all_bound() -> bool:
            pods = kube.list(Pod, namespace=namespace, labels={"app": "shares"})
            placed = [p for p in pods if p.spec.nodeName and p.status.phase == "Running"]
            return len(placed) == SHARES

        wait_for(f"{SHARES} shares running", all_bound, deadline=240)
    claims = claims_of(kube, SHARE_POOL)
    # exactly three GPUs' worth: 12 x 4 GiB on 16 GiB T4s
    assert len(claims) == 3, [c["metadata"]["name"] for c in claims]
    assert {c["metadata"]["labels"][INSTANCE_TYPE] for c in claims} == {T4}
    assert all(condition(c, "Initialized") for c in claims)
    for claim in claims:  # Karpenter asked for the shares: it counted the overlay's capacity
        assert 0 < int(claim["spec"]["resources"]["requests"][GPU_MEM]) <= 16
    nodes = {c["status"]["nodeName"] for c in claims}
    assert set(stand_in.advertised) == nodes
    for claim in claims:  # kwok's Node carries the claim's request, not the plugin's set
        name = claim["status"]["nodeName"]
        assert stand_in.found[name] == {GPU_MEM: claim["spec"]["resources"]["requests"][GPU_MEM]}
        assert stand_in.advertised[name] == {
            GPU_MEM: "16",
            GPU_COUNT: "1",
            HAMI_GPU_MEM: str(t4.gpu_memory_mib),
            HAMI_GPU_CORES: "100",
        }
        allocatable = kube.get(Node, name).status.allocatable
        assert {r: allocatable[r] for r in ADVERTISED} == stand_in.advertised[name]

    pods = [p for p in kube.list(Pod, namespace=namespace) if p.spec.nodeName]
    assert {p.spec.nodeName for p in pods} == nodes
    assert all(p.metadata.annotations.get(GPU_INDEX) for p in pods)  # bound by the extender
    assert_no_gpu_over_committed(pods, dict.fromkeys(nodes, "Tesla-T4"))  # a T4's 16 GiB
    assert extender.metric("tidewise_extender_requests_total", verb="bind", outcome="ok") >= SHARES
