"""The one fit rule: the array index and the scalar functions are the same rule."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.placement.strategies import capacities, node_of, requests
from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.rule import choose_gpus, fit_on, pods_per_node, with_pod

A10 = Resources(
    cpu_milli=8000, memory_mib=32768, gpu_count=2, gpu_memory_mib=24576, gpu_model="A10"
)
CPU = Resources(cpu_milli=8000, memory_mib=32768)


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
