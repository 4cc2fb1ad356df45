from dataclasses import replace

import pytest

from tests.factories import CPU4, GPU1, offering
from tidewise.capacity.karpenter.nodepools import (
    CPU_POOL_WEIGHT,
    NodeClassRef,
    NodePoolSpec,
    node_pool,
)
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.model import PurchaseOption, Resources, WorkloadSpec

KWOK = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
OFFERINGS = [
    offering(CPU4, PurchaseOption.ON_DEMAND, 0.2),
    offering(CPU4, PurchaseOption.SPOT, 0.08),
    offering(CPU4, PurchaseOption.RESERVED, 0.12),
    offering(GPU1, PurchaseOption.SPOT, 0.4),
]
WEB = WorkloadSpec("web", Resources(1000, 2048), 10, 20, 2, 40, 0.7)
INFERENCE = WorkloadSpec("inference", Resources(1500, 6144, gpu_milli=500), 1, 60, 1, 30, 0.7)


def requirements(pool):
    return {r["key"]: r["values"] for r in pool["spec"]["template"]["spec"]["requirements"]}


def test_a_pool_buys_its_types_as_spot_or_on_demand_in_the_catalog_zones():
    pool = node_pool(
        NodePoolSpec("general", ("cpu4",)), OFFERINGS, [WEB], KWOK, NodeAutoscalerSettings()
    )
    assert requirements(pool) == {
        "node.kubernetes.io/instance-type": ["cpu4"],
        "karpenter.sh/capacity-type": ["on-demand", "spot"],
        "topology.kubernetes.io/zone": ["z1"],
    }
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.kwok.sh",
        "kind": "KWOKNodeClass",
        "name": "default",
    }
    assert pool["spec"]["template"]["metadata"]["labels"] == {"tidewise.io/node-pool": "general"}


def test_limits_never_stop_the_largest_fleet_the_pool_may_host():
    """One node per replica at most, counting only the workloads the pool can host: the GPU
    node takes no CPU-only pod, so the GPU pool counts the inference service alone."""
    settings = NodeAutoscalerSettings()
    general = NodePoolSpec("general", ("cpu4",))
    gpu = NodePoolSpec("gpu", ("gpu1",))
    workloads = [WEB, INFERENCE]
    assert node_pool(general, OFFERINGS, workloads, KWOK, settings)["spec"]["limits"] == {
        "nodes": "40"
    }
    assert node_pool(gpu, OFFERINGS, workloads, KWOK, settings)["spec"]["limits"] == {"nodes": "30"}
    huge = replace(WEB, requests=Resources(64_000, 2048))
    assert "limits" not in node_pool(general, OFFERINGS, [huge], KWOK, settings)["spec"]


def test_disruption_follows_the_twin_s_node_autoscaler():
    settings = NodeAutoscalerSettings(unneeded_s=180.0, max_empty_bulk=7)
    pool = node_pool(NodePoolSpec("general", ("cpu4",)), OFFERINGS, [WEB], KWOK, settings)
    assert pool["spec"]["disruption"] == {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "180s",
        "budgets": [
            {"nodes": "7", "reasons": ["Empty"]},
            {"nodes": "1", "reasons": ["Underutilized", "Drifted"]},
        ],
    }


def test_pools_without_gpus_come_first_so_cpu_pods_never_buy_gpu_machines():
    """Karpenter takes the first NodePool that fits, heaviest first, equal weights in reverse
    alphabetical order: without weights ``gpu`` would come before ``general``."""
    settings = NodeAutoscalerSettings()
    general = node_pool(NodePoolSpec("general", ("cpu4",)), OFFERINGS, [WEB], KWOK, settings)
    gpu = node_pool(NodePoolSpec("gpu", ("gpu1",)), OFFERINGS, [WEB], KWOK, settings)
    mixed = node_pool(NodePoolSpec("mixed", ("cpu4", "gpu1")), OFFERINGS, [WEB], KWOK, settings)
    assert general["spec"]["weight"] == CPU_POOL_WEIGHT > 0
    assert "weight" not in gpu["spec"] and "weight" not in mixed["spec"]


@pytest.mark.parametrize("text", ["EC2NodeClass/default", "a//c", "a/b/c/d"])
def test_a_node_class_needs_group_kind_and_name(text):
    with pytest.raises(ValueError, match="GROUP/KIND/NAME"):
        NodeClassRef.parse(text)
    assert NodeClassRef.parse("g/K/n") == NodeClassRef("g", "K", "n")
