"""The fragmentation measure on hand-worked examples (paper section 4; notes section 1.4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import FragmentationIndex, ShapeMix, fgd_score

HALF = Resources(1000, gpu_milli=500)
WHOLE = Resources(1000, gpu_count=1)
HALF_AND_WHOLE = ShapeMix((HALF, WHOLE), np.array([0.5, 0.5]))


def two_gpu_nodes(*free, cpu=32000, model="T4"):
    node = Resources(cpu, 65536, gpu_count=2, gpu_model=model)
    cluster = GpuCluster([node] * len(free), cpu_pods_on_gpu_nodes=True)
    for i, gpus in enumerate(free):
        cluster.gpu_free[i, :2] = gpus
    return cluster


def test_half_and_whole_workload_worked_example():
    # A: [1000, 1000] -> 0; B: [500, 1000] -> the 500 is useless to the whole shape: 0.5 x 500
    cluster = two_gpu_nodes([1000, 1000], [500, 1000])
    index = FragmentationIndex(cluster, HALF_AND_WHOLE)
    assert list(index.fragments) == [0.0, 250.0]
    after, gpu = index.after(HALF, np.array([0, 1]))
    assert list(after) == [250.0, 0.0]  # A grows by 250, B's half GPU gets used
    assert gpu[1] == 0
    assert list(fgd_score(after - index.fragments)) == [43.0, 56.0]


def test_cpu_only_shapes_and_unhostable_nodes_count_all_idle_gpu():
    cpu_only = Resources(4000)
    mix = ShapeMix((cpu_only,), np.array([1.0]))
    cluster = two_gpu_nodes([300, 1000])
    assert FragmentationIndex(cluster, mix).fragments[0] == 1300
    # lack of CPU: the node cannot host the shape, so all 1300 idle milli are a fragment
    hungry = ShapeMix((Resources(40000, gpu_milli=200),), np.array([1.0]))
    assert FragmentationIndex(cluster, hungry).fragments[0] == 1300
    # a model the shape does not accept: the same
    pinned = Resources(100, gpu_milli=200, gpu_model="V100M16")
    assert FragmentationIndex(cluster, ShapeMix((pinned,), np.array([1.0]))).fragments[0] == 1300
    # hostable: only GPUs with less than the shape's share count
    small = ShapeMix((Resources(100, gpu_milli=400),), np.array([1.0]))
    assert FragmentationIndex(cluster, small).fragments[0] == 300


def test_typical_shapes_cover_95_percent_and_ignore_memory():
    pods = [Resources(1000, 512 * i, gpu_milli=500) for i in range(60)] + [Resources(2000)] * 39
    pods.append(Resources(9000, gpu_count=1))
    mix = ShapeMix.from_pods(pods)
    assert mix.shapes == (Resources(1000, gpu_milli=500), Resources(2000))
    assert list(mix.weights) == pytest.approx([60 / 99, 39 / 99])


free_vectors = st.lists(st.sampled_from([0, 100, 250, 500, 700, 1000]), min_size=2, max_size=2)


@settings(max_examples=60)
@given(
    nodes=st.lists(free_vectors, min_size=1, max_size=4),
    cpu=st.lists(st.integers(0, 32000), min_size=4, max_size=4),
    pod=st.sampled_from(
        [
            HALF,
            WHOLE,
            Resources(3000),
            Resources(500, gpu_milli=250),
            Resources(500, gpu_count=2),
        ]
    ),
)
def test_predicted_fragmentation_equals_the_real_one_after_binding(nodes, cpu, pod):
    mix = ShapeMix(
        (HALF, WHOLE, Resources(8000), Resources(2000, gpu_milli=250)),
        np.array([0.4, 0.3, 0.2, 0.1]),
    )
    cluster = two_gpu_nodes(*nodes)
    cluster.cpu_free[:] = cpu[: len(nodes)]
    index = FragmentationIndex(cluster, mix)
    candidates = np.flatnonzero(cluster.feasible(pod))
    if not len(candidates):
        return
    predicted, gpu = index.after(pod, candidates)
    for k, node in enumerate(candidates):
        gpus = (int(gpu[k]),) if pod.is_gpu_share else cluster.tightest_gpus(int(node), pod)
        cluster.bind(int(node), pod, gpus)
        index.update(int(node))
        assert index.fragments[node] == pytest.approx(predicted[k])
        cluster.release(int(node), pod, gpus)
        index.update(int(node))
