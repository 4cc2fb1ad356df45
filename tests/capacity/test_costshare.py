import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import nnls

from tests.factories import CPU4, CPU8, GPU1, offering, serverless
from tidewise.capacity.costshare import (
    IDLE,
    Cost,
    PlacedPod,
    PricedNode,
    UnitPrices,
    allocate,
    gpu_fraction,
    node_parts,
    nonnegative_least_squares_2,
    serverless_costs,
    summed,
    unit_prices,
)
from tidewise.model import InstanceType, PurchaseOption, Resources

PRICES = UnitPrices(0.04, 0.005)
CPU_NODE = PricedNode("cpu", 0.04 * 4 + 0.005 * 16, Resources(cpu_milli=4000, memory_mib=16384))
GPU_NODE = PricedNode(
    "gpu", 2.0, Resources(cpu_milli=8000, memory_mib=32768, gpu_count=2, gpu_memory_mib=24576)
)


def pod(name, node, namespace="team-a", labels=None, **requests):
    return PlacedPod(name, namespace, node, Resources(**requests), labels or {})


def test_unit_prices_recover_a_linear_price_list():
    def price(itype):
        return 0.04 * itype.vcpus + 0.005 * itype.memory_mib / 1024

    memory_heavy = InstanceType("mem2", vcpus=2, memory_mib=16384)
    offers = [offering(t, price=price(t)) for t in (CPU4, CPU8, memory_heavy)]
    offers.append(offering(GPU1, price=5.0))  # GPU types do not set the CPU price
    offers.append(offering(CPU4, PurchaseOption.SPOT, price=0.01))  # nor does spot
    found = unit_prices(offers)
    assert found.usd_per_vcpu_hour == pytest.approx(0.04)
    assert found.usd_per_gib_hour == pytest.approx(0.005)


def test_a_cpu_node_splits_by_the_fitted_prices_and_a_gpu_node_gives_its_gpus_the_rest():
    parts = node_parts(CPU_NODE, PRICES)
    assert parts == Cost(pytest.approx(0.16), pytest.approx(0.08), 0.0)
    gpu = node_parts(GPU_NODE, PRICES)
    assert gpu.gpu == pytest.approx(2.0 - 0.32 - 0.16)
    assert gpu.cpu == pytest.approx(0.32) and gpu.total == pytest.approx(2.0)


def test_a_node_cheaper_than_its_cpu_and_memory_still_sums_to_its_price():
    spot = PricedNode("spot", 0.07, CPU_NODE.capacity)
    parts = node_parts(spot, PRICES)
    assert parts.total == pytest.approx(0.07)
    assert parts.cpu / parts.memory == pytest.approx(0.16 / 0.08)


def test_pods_pay_their_requests_share_and_the_rest_is_idle():
    pods = [
        pod("web-1", "cpu", cpu_milli=2000, memory_mib=4096),
        pod("train-1", "gpu", namespace="team-b", cpu_milli=4000, memory_mib=8192, gpu_count=1),
    ]
    allocation = allocate([CPU_NODE, GPU_NODE], pods, PRICES)
    web = allocation.pods[("team-a", "web-1")]
    assert web.cpu == pytest.approx(0.16 / 2) and web.memory == pytest.approx(0.08 / 4)
    train = allocation.pods[("team-b", "train-1")]
    assert train.gpu == pytest.approx((2.0 - 0.48) / 2)
    assert allocation.total == pytest.approx(CPU_NODE.usd_per_hour + GPU_NODE.usd_per_hour)
    by_namespace = summed(allocation, pods, lambda p: p.namespace)
    assert set(by_namespace) == {"team-a", "team-b", IDLE}
    assert sum(c.total for c in by_namespace.values()) == pytest.approx(2.24)


def test_gpu_shares_pay_their_share_whether_asked_in_milli_or_in_memory():
    capacity = GPU_NODE.capacity
    assert gpu_fraction(Resources(gpu_milli=250), capacity) == 0.25
    assert gpu_fraction(Resources(gpu_memory_mib=6144), capacity) == 0.25
    assert gpu_fraction(Resources(gpu_count=2), capacity) == 2
    assert gpu_fraction(Resources(cpu_milli=100), capacity) == 0


def test_pods_on_no_known_node_cost_nothing():
    allocation = allocate([CPU_NODE], [pod("pending", "", cpu_milli=100)], PRICES)
    assert allocation.pods == {}
    assert allocation.idle["cpu"].total == pytest.approx(CPU_NODE.usd_per_hour)


def test_an_overcommitted_node_never_charges_more_than_its_price():
    pods = [pod(f"p{i}", "cpu", cpu_milli=3000, memory_mib=1024) for i in range(3)]
    allocation = allocate([CPU_NODE], pods, PRICES)
    assert allocation.idle["cpu"].cpu == pytest.approx(0.0)
    assert allocation.total == pytest.approx(CPU_NODE.usd_per_hour)


requests = st.builds(
    Resources,
    cpu_milli=st.integers(0, 9000),
    memory_mib=st.integers(0, 40000),
    gpu_count=st.integers(0, 2),
)


@given(
    st.lists(st.tuples(st.sampled_from(["cpu", "gpu", "gone"]), requests), max_size=12),
    st.floats(0.0, 50.0),
)
def test_pods_and_idle_always_add_up_to_what_the_nodes_cost(placed, gpu_price):
    nodes = [CPU_NODE, PricedNode("gpu", gpu_price, GPU_NODE.capacity)]
    pods = [PlacedPod(f"p{i}", "ns", node, r) for i, (node, r) in enumerate(placed)]
    allocation = allocate(nodes, pods, PRICES)
    assert allocation.total == pytest.approx(CPU_NODE.usd_per_hour + gpu_price, abs=1e-9)
    for cost in [*allocation.pods.values(), *allocation.idle.values()]:
        assert min(cost.cpu, cost.memory, cost.gpu) >= -1e-12


def test_pods_on_a_virtual_node_pay_their_own_serverless_price_and_leave_no_idle():
    """0.03 USD per vCPU-hour and 0.005 per GiB-hour; 700m and 1.2 GiB round up to ECI's
    steps, 0.75 vCPU and 1.5 GiB: 0.0225 + 0.0075 USD/h."""
    containers = serverless(0.03 / 3600, 0.005 / 3600)
    burst = pod("web-2", "vk", cpu_milli=700, memory_mib=1229)
    billed = serverless_costs([burst], containers)
    assert billed[("team-a", "web-2")].cpu == pytest.approx(0.0225)
    assert billed[("team-a", "web-2")].memory == pytest.approx(0.0075)
    on_vm = pod("web-1", "cpu", cpu_milli=2000, memory_mib=4096)
    allocation = allocate([CPU_NODE], [on_vm, burst], PRICES, billed)
    assert allocation.pods[("team-a", "web-2")].total == pytest.approx(0.03)
    assert set(allocation.idle) == {"cpu"}  # the virtual node is no machine: nothing idle
    assert allocation.total == pytest.approx(CPU_NODE.usd_per_hour + 0.03)
    with pytest.raises(ValueError, match="does not fit"):
        serverless_costs([pod("gpu", "vk", cpu_milli=100, gpu_count=1)], containers)


@given(
    st.lists(
        st.tuples(st.floats(0.5, 96), st.floats(0.5, 768), st.floats(-5, 20, allow_nan=False)),
        min_size=2,
        max_size=12,
    )
)
def test_the_two_unknown_nonnegative_least_squares_is_scipy_s(rows):
    table = np.array(rows, dtype=float)
    ours = np.array(nonnegative_least_squares_2(table[:, :2], table[:, 2]))
    theirs, _ = nnls(table[:, :2], table[:, 2])
    assert (ours >= 0).all()
    residual = lambda x: float(np.sum((table[:, :2] @ x - table[:, 2]) ** 2))  # noqa: E731
    assert residual(ours) <= residual(theirs) + 1e-9 * (1 + residual(theirs))
