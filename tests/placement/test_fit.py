"""The one fit rule: its answers, and the array index and the scalar functions agreeing."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import CPU4, GPU1, node
from tests.placement.strategies import capacities, node_of, requests
from tidewise.model import Resources
from tidewise.placement import GpuCluster, admits, choose_gpus, fit_on, pods_per_node, with_pod
from tidewise.placement.fit import model_accepted

A10 = Resources(
    cpu_milli=8000, memory_mib=32768, gpu_count=2, gpu_memory_mib=24576, gpu_model="A10"
)
CPU = Resources(cpu_milli=8000, memory_mib=32768)
SHARE = Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=10240)


def tainted(capacity: Resources, pod: Resources) -> bool:
    """``admits`` with GPU nodes tainted against CPU-only pods (the twin's rule)."""
    model_ok = model_accepted(pod, capacity)
    return bool(admits(pod, capacity.gpu_count, model_ok, cpu_pods_on_gpu_nodes=False))


def test_cpu_pods_stay_off_tainted_gpu_nodes_and_gpu_pods_need_them():
    assert tainted(CPU4.capacity, Resources(cpu_milli=100))
    assert not tainted(GPU1.capacity, Resources(cpu_milli=100))
    assert not tainted(CPU4.capacity, SHARE)
    assert tainted(GPU1.capacity, SHARE)


def test_gpu_model_restriction_accepts_any_listed_model():
    assert tainted(GPU1.capacity, Resources(gpu_milli=100, gpu_model="V100|A10G"))
    assert not tainted(GPU1.capacity, Resources(gpu_milli=100, gpu_model="V100"))


def test_share_goes_to_the_fullest_gpu_that_fits():
    assert choose_gpus(SHARE, [1000, 600, 400], [24576, 24576, 24576], 24576) == (1,)
    assert choose_gpus(SHARE, [1000, 600], [24576, 8000], 24576) == (0,)
    assert choose_gpus(SHARE, [400], [24576], 24576) is None


def test_whole_gpus_take_idle_ones_lowest_first():
    two = Resources(gpu_count=2)
    assert choose_gpus(two, [1000, 500, 1000, 1000], [1, 1, 1, 1], 1) == (0, 2)
    assert choose_gpus(two, [1000, 500], [1, 1], 1) is None


def test_pods_per_node_takes_the_tightest_resource():
    def per_node(capacity: Resources, pod: Resources) -> int:
        return pods_per_node(capacity, pod, cpu_pods_on_gpu_nodes=False)

    assert per_node(CPU4.capacity, Resources(cpu_milli=1000, memory_mib=2048)) == 4
    assert per_node(CPU4.capacity, Resources(cpu_milli=500, memory_mib=8192)) == 2
    # two halves of one GPU by share; memory allows two of 10 GiB on 24 GiB
    assert per_node(GPU1.capacity, SHARE) == 2
    assert per_node(GPU1.capacity, Resources(gpu_count=2)) == 0


def test_bind_then_release_restores_the_node():
    n = node(GPU1)
    gpus = fit_on(n, SHARE, cpu_pods_on_gpu_nodes=False)
    assert gpus == (0,)
    bound = with_pod(n, SHARE, gpus)
    assert bound.gpu_free_milli == (500,) and bound.free_cpu_milli == 3000
    assert bound.pod_count == 1
    assert with_pod(bound, SHARE, gpus, -1) == n


def test_a_gpu_holding_a_memory_sized_share_is_not_idle():
    # a share sized by GPU memory alone (aliyun.com/gpu-mem) takes no milli: still not idle
    assert choose_gpus(Resources(gpu_count=1), [1000, 1000], [20480, 24576], 24576) == (1,)
    assert choose_gpus(Resources(gpu_count=2), [1000, 1000], [20480, 24576], 24576) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(capacities, min_size=1, max_size=5), st.lists(requests, max_size=25), st.booleans())
def test_array_index_and_scalar_fit_give_the_same_answers(nodes, pods, cpu_on_gpu):
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=cpu_on_gpu)
    scalar = [node_of(c) for c in nodes]
    for pod in pods:
        answers = [fit_on(n, pod, cpu_pods_on_gpu_nodes=cpu_on_gpu) for n in scalar]
        feasible = cluster.feasible(pod)
        assert list(feasible) == [a is not None for a in answers]
        for i in np.flatnonzero(feasible):
            assert cluster.tightest_gpus(int(i), pod) == answers[i]
        if not feasible.any():
            continue
        i = int(np.flatnonzero(feasible)[-1])
        cluster.bind(i, pod, answers[i])
        scalar[i] = with_pod(scalar[i], pod, answers[i])
        assert cluster.cpu_free[i] == scalar[i].free_cpu_milli
        gpus = nodes[i].gpu_count
        assert tuple(cluster.gpu_free[i, :gpus]) == scalar[i].gpu_free_milli
        assert tuple(cluster.gpu_memory_free[i, :gpus]) == scalar[i].gpu_free_memory_mib


def test_cpu_pods_on_gpu_nodes_is_the_callers_choice():
    web = Resources(cpu_milli=1000, memory_mib=1024)
    for allowed, expected in ((False, [False, True]), (True, [True, True])):
        cluster = GpuCluster([A10, CPU], cpu_pods_on_gpu_nodes=allowed)
        assert list(cluster.feasible(web)) == expected
        assert (fit_on(node_of(A10), web, cpu_pods_on_gpu_nodes=allowed) is not None) is allowed
        assert bool(pods_per_node(A10, web, cpu_pods_on_gpu_nodes=allowed)) is allowed


def test_a_gpu_held_whole_takes_no_share_not_even_one_sized_by_memory():
    whole, by_memory = Resources(gpu_count=1), Resources(gpu_memory_mib=4096)
    node = with_pod(node_of(A10), whole, (0,))
    assert node.gpu_free_milli == (0, 1000) and node.gpu_free_memory_mib == (0, 24576)
    assert fit_on(node, by_memory, cpu_pods_on_gpu_nodes=False) == (1,)
    node = with_pod(node, whole, (1,))
    assert fit_on(node, by_memory, cpu_pods_on_gpu_nodes=False) is None
    assert choose_gpus(by_memory, node.gpu_free_milli, node.gpu_free_memory_mib, 24576) is None
    cluster = GpuCluster([A10], cpu_pods_on_gpu_nodes=False)
    cluster.bind(0, whole, (0,))
    assert cluster.tightest_gpus(0, by_memory) == (1,)
    cluster.bind(0, whole, (1,))
    assert not cluster.feasible(by_memory)[0]
    cluster.release(0, whole, (0,))
    assert cluster.tightest_gpus(0, by_memory) == (0,)


def test_memory_of_unknown_size_never_limits():
    unknown = Resources(cpu_milli=8000, memory_mib=32768, gpu_count=1)
    big = Resources(gpu_memory_mib=80 * 1024)
    assert fit_on(node_of(unknown), big, cpu_pods_on_gpu_nodes=False) == (0,)
    assert GpuCluster([unknown], cpu_pods_on_gpu_nodes=False).feasible(big)[0]
    assert (
        pods_per_node(
            unknown, Resources(gpu_count=1, gpu_memory_mib=1 << 20), cpu_pods_on_gpu_nodes=False
        )
        == 1
    )
