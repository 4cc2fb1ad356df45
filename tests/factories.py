"""Small, hand-checkable offerings and nodes for tests."""

import os
from pathlib import Path

from tidewise.model import (
    Billing,
    InstanceType,
    Node,
    NodeState,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)

# the repository is checked out beside shared/ (as in CI); override with TIDEWISE_SHARED_DATA
SHARED_DATA = Path(
    os.environ.get("TIDEWISE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)

CPU4 = InstanceType("cpu4", vcpus=4, memory_mib=16384)
CPU8 = InstanceType("cpu8", vcpus=8, memory_mib=32768)
GPU1 = InstanceType(
    "gpu1", vcpus=4, memory_mib=16384, gpu_count=1, gpu_model="A10G", gpu_memory_mib=24576
)


def offering(
    itype: InstanceType,
    option: PurchaseOption = PurchaseOption.ON_DEMAND,
    price: float = 1.0,
    **extra,
) -> Offering:
    return Offering(itype, "z1", option, price, billing=Billing(1.0, 60.0), **extra)


def node(
    itype: InstanceType,
    name: str = "n1",
    state: NodeState = NodeState.READY,
    option: PurchaseOption = PurchaseOption.ON_DEMAND,
) -> Node:
    cap = itype.capacity
    return Node(
        name=name,
        offering=offering(itype, option),
        capacity=cap,
        state=state,
        launched_s=0.0,
        gpu_free_milli=(1000,) * cap.gpu_count,
        gpu_free_memory_mib=(cap.gpu_memory_mib,) * cap.gpu_count,
    )


def pod(
    requests: Resources,
    name: str = "p",
    workload: str = "web",
    node_name: str | None = None,
    capacity_types: frozenset[PurchaseOption] | None = None,
) -> Pod:
    phase = PodPhase.PENDING if node_name is None else PodPhase.RUNNING
    return Pod(name, workload, requests, phase, 0.0, node_name, capacity_types=capacity_types)
