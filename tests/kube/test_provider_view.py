"""The provisioner's reading of API objects, and what the node autoscaler decides from it."""

import pytest

from tidewise.capacity import NodeAutoscaler
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION
from tidewise.kube.provider import Instance, KwokProvider
from tidewise.kube.provider.kwok import node_object
from tidewise.kube.provider.observe import cluster_view
from tidewise.model import Launch, NodeState, PodPhase, PurchaseOption

OPTIONS = frozenset({PurchaseOption.ON_DEMAND, PurchaseOption.SPOT})
TOLERATE = [{"key": FAKE_NODE_ANNOTATION, "operator": "Exists"}]
UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


@pytest.fixture(scope="module")
def offerings():
    catalog = load_catalog(
        builtin_catalog_path("aws-us-east-1"),
        provider="aws",
        instance_types=["m6i.large", "m6i.xlarge", "g4dn.xlarge"],
    )
    return [o for o in catalog.offerings if o.option in OPTIONS]


def pod(
    name, cpu="600m", node=None, tolerations=TOLERATE, selector=None, conditions=None, extra=None
):
    requests = {"cpu": cpu, "memory": "512Mi", **(extra or {})}
    return {
        "metadata": {"name": name, "namespace": "ns", "ownerReferences": [{"name": "web"}]},
        "spec": {
            "nodeName": node,
            "nodeSelector": selector or {},
            "tolerations": tolerations,
            "containers": [{"resources": {"requests": requests}}],
        },
        "status": {"conditions": [UNSCHEDULABLE] if conditions is None else conditions},
    }


def ready_node(name, offering):
    body = node_object(name, offering, {"tidewise.io/provisioner": "kwok"}).to_dict()
    body["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    return body


def view(offerings, pods, instances=(), nodes=()):
    provider = KwokProvider(client=None, offerings=offerings)
    return cluster_view(100.0, provider, list(instances), list(nodes), pods, offerings, {})


def test_only_unschedulable_pods_the_provider_could_serve_are_pending(offerings):
    pods = [
        pod("wants"),
        pod("untried", conditions=[]),  # the scheduler has not looked at it yet
        pod("intolerant", tolerations=[]),
        pod("elsewhere", selector={"pool": "gpu"}),
        pod("on-demand", selector={"karpenter.sh/capacity-type": "on-demand"}),
    ]
    seen = {p.name: p for p in view(offerings, pods).pods}
    assert set(seen) == {"wants", "on-demand"}
    assert seen["on-demand"].capacity_types == {PurchaseOption.ON_DEMAND}
    assert seen["wants"].requests.cpu_milli == 600


def test_the_autoscaler_buys_the_cheapest_fitting_offering(offerings):
    decisions = NodeAutoscaler(OPTIONS).decide(view(offerings, [pod(f"p{i}") for i in range(3)]))
    assert [type(d) for d in decisions] == [Launch]
    cheapest = min(o.price_per_hour for o in offerings if o.instance_type.name == "m6i.large")
    assert decisions[0].offering.price_per_hour == cheapest
    assert decisions[0].offering.option is PurchaseOption.SPOT


def test_a_pending_pod_that_fits_a_ready_node_is_left_to_the_scheduler(offerings):
    spot = next(o for o in offerings if o.key.startswith("m6i.large/") and o.option == "spot")
    bound = pod("bound", node="n1", conditions=[{"type": "Ready", "status": "True"}])
    seen = view(
        offerings, [bound, pod("fits")], [Instance("n1", spot, 0.0)], [ready_node("n1", spot)]
    )
    assert [(p.name, p.phase) for p in seen.pods] == [("bound", PodPhase.RUNNING)]
    (node,) = seen.nodes
    assert (node.state, node.allocated_cpu_milli, node.pod_count) == (NodeState.READY, 600, 1)


def test_a_booting_instance_is_launching_and_gpu_nodes_carry_their_gpus(offerings):
    gpu = next(o for o in offerings if o.instance_type.name == "g4dn.xlarge")
    body = node_object("g", gpu, {}).to_dict()
    assert body["status"]["capacity"]["nvidia.com/gpu"] == "1"
    assert body["metadata"]["labels"]["karpenter.sh/capacity-type"] == gpu.option.value
    assert body["metadata"]["annotations"] == {FAKE_NODE_ANNOTATION: "fake"}
    (node,) = view(offerings, [], [Instance("g", gpu, 0.0)]).nodes
    assert node.state is NodeState.LAUNCHING and node.gpu_free_milli == (1000,)


def test_gpu_share_pods_buy_shares_of_one_gpu_not_a_gpu_each(offerings):
    # three quarter-GPU pods (gpushare's GiB of a 16 GiB T4, HAMi's percent) fit one g4dn
    shares = [
        pod("mem-4g", "200m", extra={"aliyun.com/gpu-mem": "4"}),
        pod("cores-25", "200m", extra={"nvidia.com/gpucores": "25", "nvidia.com/gpumem": "4096"}),
        pod("mem-8g", "200m", extra={"aliyun.com/gpu-mem": "8"}),
    ]
    seen = {p.name: p.requests for p in view(offerings, shares).pods}
    assert (seen["mem-4g"].gpu_count, seen["mem-4g"].gpu_memory_mib) == (0, 4096)
    assert (seen["cores-25"].gpu_milli, seen["cores-25"].gpu_memory_mib) == (250, 4096)
    decisions = NodeAutoscaler(OPTIONS).decide(view(offerings, shares))
    assert [(d.offering.instance_type.name, d.count) for d in decisions] == [("g4dn.xlarge", 1)]


def test_a_gpu_node_counts_the_shares_its_annotations_record(offerings):
    gpu = next(o for o in offerings if o.instance_type.name == "g4dn.xlarge")
    running = [{"type": "Ready", "status": "True"}]
    half = pod("half", "200m", node="g", conditions=running, extra={"nvidia.com/gpucores": "50"})
    half["metadata"]["annotations"] = {"ALIYUN_COM_GPU_MEM_IDX": "0"}
    memory = pod("mem", "200m", node="g", conditions=running, extra={"aliyun.com/gpu-mem": "4"})
    instances, nodes = [Instance("g", gpu, 0.0)], [ready_node("g", gpu)]
    (node,) = view(offerings, [half, memory], instances, nodes).nodes
    assert node.gpu_free_milli == (500,)
    assert node.gpu_free_memory_mib == (gpu.instance_type.gpu_memory_mib - 4096,)
    assert (node.allocated_cpu_milli, node.pod_count) == (400, 2)
