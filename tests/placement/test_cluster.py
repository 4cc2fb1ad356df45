import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import GPU1, node
from tests.placement.strategies import requests
from tidewise.model import Resources
from tidewise.placement import with_pod
from tidewise.placement.cluster import GpuCluster

NODES = [
    Resources(32000, 131072, gpu_count=4, gpu_model="V100M16", gpu_memory_mib=16384),
    Resources(16000, 65536, gpu_count=1, gpu_model="A10", gpu_memory_mib=24576),
    Resources(64000, 262144),
]


def test_share_takes_the_tightest_fitting_gpu_lowest_index_on_ties():
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    cluster.gpu_free[0, :4] = [700, 300, 1000, 300]
    assert cluster.tightest_gpus(0, Resources(100, gpu_milli=250)) == (1,)
    assert cluster.tightest_gpus(0, Resources(100, gpu_milli=500)) == (0,)


def test_whole_gpus_take_the_lowest_idle_ones():
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    cluster.gpu_free[0, :4] = [700, 1000, 1000, 1000]
    assert cluster.tightest_gpus(0, Resources(100, gpu_count=2)) == (1, 2)
    assert not cluster.feasible(Resources(100, gpu_count=4))[0]


def test_model_constraint_and_cpu_only_pods():
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    pinned = Resources(100, gpu_milli=500, gpu_model="V100M16|V100M32")
    assert list(cluster.feasible(pinned)) == [True, False, False]
    assert list(cluster.feasible(Resources(100, gpu_milli=500))) == [True, True, False]
    # the benchmark's cluster lets CPU-only pods on GPU nodes, the twin's does not
    assert list(cluster.feasible(Resources(8000))) == [True, True, True]
    assert list(cluster.feasible(Resources(20000))) == [True, False, True]
    tainted = GpuCluster(NODES, cpu_pods_on_gpu_nodes=False)
    assert list(tainted.feasible(Resources(8000))) == [False, False, True]
    assert list(tainted.feasible(pinned)) == [True, False, False]


def test_memory_sized_share_fits_any_model_with_enough_gpu_memory():
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    big = Resources(100, gpu_milli=100, gpu_memory_mib=20480)  # 20 GiB
    assert list(cluster.feasible(big)) == [False, True, False]
    small = Resources(100, gpu_milli=100, gpu_memory_mib=8192)
    assert list(cluster.feasible(small)) == [True, True, False]
    cluster.bind(0, small, (0,))
    cluster.bind(0, small, (0,))
    assert cluster.gpu_memory_free[0, 0] == 0
    assert cluster.tightest_gpus(0, small) == (1,)


def test_over_commit_is_refused_and_leaves_state_unchanged():
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    pod = Resources(100, gpu_milli=600)
    cluster.bind(1, pod, (0,))
    before = cluster.gpu_free.copy()
    with pytest.raises(ValueError, match="over-commit"):
        cluster.bind(1, pod, (0,))
    np.testing.assert_array_equal(cluster.gpu_free, before)
    with pytest.raises(ValueError, match="GPUs"):
        cluster.bind(1, pod, (3,))


@given(st.lists(requests, max_size=30))
def test_release_restores_exactly_what_bind_took_and_nothing_overflows(pods):
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    start = (cluster.cpu_free.copy(), cluster.gpu_free.copy(), cluster.gpu_memory_free.copy())
    bound = []
    for pod in pods:
        nodes = np.flatnonzero(cluster.feasible(pod))
        if len(nodes):
            gpus = cluster.tightest_gpus(int(nodes[0]), pod)
            cluster.bind(int(nodes[0]), pod, gpus)
            bound.append((int(nodes[0]), pod, gpus))
        assert (cluster.gpu_free >= 0).all() and (cluster.gpu_free <= 1000).all()
        assert (cluster.gpu_memory_free >= 0).all()
        assert (cluster.cpu_free >= 0).all() and (cluster.memory_free >= 0).all()
    for where, pod, gpus in reversed(bound):
        cluster.release(where, pod, gpus)
    np.testing.assert_array_equal(cluster.cpu_free, start[0])
    np.testing.assert_array_equal(cluster.gpu_free, start[1])
    np.testing.assert_array_equal(cluster.gpu_memory_free, start[2])
    assert cluster.gpu_allocated == 0


def test_memory_only_share_keeps_whole_gpu_pods_off_its_gpu():
    cluster = GpuCluster(NODES[1:2], cpu_pods_on_gpu_nodes=True)  # one A10, 24 GiB
    share = Resources(100, gpu_memory_mib=4096)  # aliyun.com/gpu-mem: 4
    cluster.bind(0, share, cluster.tightest_gpus(0, share))
    assert cluster.gpu_free[0, 0] == 1000  # no milli asked
    assert not cluster.feasible(Resources(100, gpu_count=1))[0]
    assert cluster.feasible(Resources(100, gpu_memory_mib=20480))[0]


def test_loaded_from_nodes_it_holds_their_free_resources():
    share = Resources(cpu_milli=1000, memory_mib=2048, gpu_milli=500, gpu_memory_mib=8192)
    gpu = with_pod(node(GPU1, "g"), share, (0,))
    cluster = GpuCluster.of_nodes([node(GPU1, "idle"), gpu], cpu_pods_on_gpu_nodes=False)
    assert list(cluster.cpu_free) == [4000, 3000]
    assert cluster.gpu_free[1, 0] == 500 and cluster.gpu_memory_free[1, 0] == 24576 - 8192
    assert cluster.gpu_allocated == 500


GPU_REQUESTS = (
    Resources(1000, 1024, gpu_milli=300),
    Resources(1000, 1024, gpu_milli=700, gpu_memory_mib=8192),
    Resources(1000, 1024, gpu_count=2),
)


@settings(max_examples=40)
@given(
    binds=st.lists(
        st.tuples(st.integers(0, len(NODES) - 1), st.sampled_from(GPU_REQUESTS)), max_size=10
    )
)
def test_feasible_after_binds_and_releases_is_what_a_fresh_count_says(binds):
    # feasible keeps its per-GPU counts per request; a scratch copy counts afresh
    cluster = GpuCluster(NODES, cpu_pods_on_gpu_nodes=True)
    bound = []
    for row, pod in binds:
        for asked in GPU_REQUESTS:
            assert np.array_equal(cluster.feasible(asked), cluster.copy().feasible(asked))
        if cluster.feasible(pod)[row]:
            gpus = cluster.tightest_gpus(row, pod)
            cluster.bind(row, pod, gpus)
            bound.append((row, pod, gpus))
        elif bound:
            cluster.release(*bound.pop(0))
    for asked in GPU_REQUESTS:
        assert np.array_equal(cluster.feasible(asked), cluster.copy().feasible(asked))
