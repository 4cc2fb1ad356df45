import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.placement.gpushare import GpuCluster, NodeSpec, PodShape

NODES = [
    NodeSpec("v100", 32000, 131072, 4, "V100M16", gpu_memory_mib=16384),
    NodeSpec("a10", 16000, 65536, 1, "A10", gpu_memory_mib=24576),
    NodeSpec("cpu", 64000, 262144, 0, ""),
]


def test_share_takes_the_tightest_fitting_gpu_lowest_index_on_ties():
    cluster = GpuCluster(NODES)
    cluster.gpu_free[0, :4] = [700, 300, 1000, 300]
    assert cluster.tightest_gpus(0, PodShape(100, num_gpu=1, gpu_milli=250)) == (1,)
    assert cluster.tightest_gpus(0, PodShape(100, num_gpu=1, gpu_milli=500)) == (0,)


def test_whole_gpus_take_the_lowest_idle_ones():
    cluster = GpuCluster(NODES)
    cluster.gpu_free[0, :4] = [700, 1000, 1000, 1000]
    assert cluster.tightest_gpus(0, PodShape(100, num_gpu=2, gpu_milli=1000)) == (1, 2)
    assert not cluster.feasible(PodShape(100, num_gpu=4, gpu_milli=1000))[0]


def test_model_constraint_and_cpu_only_pods():
    cluster = GpuCluster(NODES)
    pinned = PodShape(100, num_gpu=1, gpu_milli=500, gpu_models=frozenset({"V100M16", "V100M32"}))
    assert list(cluster.feasible(pinned)) == [True, False, False]
    assert list(cluster.feasible(PodShape(100, num_gpu=1, gpu_milli=500))) == [True, True, False]
    # the benchmark's cluster lets CPU-only pods on GPU nodes
    assert list(cluster.feasible(PodShape(8000))) == [True, True, True]
    assert list(cluster.feasible(PodShape(20000))) == [True, False, True]


def test_memory_sized_share_fits_any_model_with_enough_gpu_memory():
    cluster = GpuCluster(NODES)
    big = PodShape(100, num_gpu=1, gpu_milli=100, gpu_memory_mib=20480)  # 20 GiB
    assert list(cluster.feasible(big)) == [False, True, False]
    small = PodShape(100, num_gpu=1, gpu_milli=100, gpu_memory_mib=8192)
    assert list(cluster.feasible(small)) == [True, True, False]
    cluster.bind(0, small, (0,))
    cluster.bind(0, small, (0,))
    assert cluster.gpu_memory_free[0, 0] == 0
    assert cluster.tightest_gpus(0, small) == (1,)


def test_over_commit_is_refused_and_leaves_state_unchanged():
    cluster = GpuCluster(NODES)
    pod = PodShape(100, num_gpu=1, gpu_milli=600)
    cluster.bind(1, pod, (0,))
    before = cluster.gpu_free.copy()
    with pytest.raises(ValueError, match="over-commit"):
        cluster.bind(1, pod, (0,))
    np.testing.assert_array_equal(cluster.gpu_free, before)
    with pytest.raises(ValueError, match="GPUs"):
        cluster.bind(1, pod, (3,))


shapes = st.one_of(
    st.builds(PodShape, cpu_milli=st.integers(0, 20000), memory_mib=st.integers(0, 40000)),
    st.builds(
        PodShape,
        cpu_milli=st.integers(0, 8000),
        num_gpu=st.just(1),
        gpu_milli=st.integers(1, 999),
        gpu_memory_mib=st.integers(0, 12000),
    ),
    st.builds(
        PodShape,
        cpu_milli=st.integers(0, 8000),
        num_gpu=st.integers(1, 4),
        gpu_milli=st.just(1000),
    ),
)


@given(st.lists(shapes, max_size=30))
def test_release_restores_exactly_what_bind_took_and_nothing_overflows(pods):
    cluster = GpuCluster(NODES)
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
    for node, pod, gpus in reversed(bound):
        cluster.release(node, pod, gpus)
    np.testing.assert_array_equal(cluster.cpu_free, start[0])
    np.testing.assert_array_equal(cluster.gpu_free, start[1])
    np.testing.assert_array_equal(cluster.gpu_memory_free, start[2])
    assert cluster.gpu_allocated == 0


def test_memory_only_share_keeps_whole_gpu_pods_off_its_gpu():
    cluster = GpuCluster(NODES[1:2])  # one A10, 24 GiB
    share = PodShape(100, num_gpu=1, gpu_memory_mib=4096)  # aliyun.com/gpu-mem: 4
    cluster.bind(0, share, cluster.tightest_gpus(0, share))
    assert cluster.gpu_free[0, 0] == 1000  # no milli asked
    assert not cluster.feasible(PodShape(100, num_gpu=1, gpu_milli=1000))[0]
    assert cluster.feasible(PodShape(100, num_gpu=1, gpu_memory_mib=20480))[0]
    with pytest.raises(ValueError, match="needs gpu_milli or gpu_memory_mib"):
        PodShape(100, num_gpu=1)
