"""The fragmentation measure on hand-worked examples (paper section 4; notes section 1.4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import (
    DISTINCT_FROM,
    FragmentationIndex,
    ShapeMix,
    distinct_rows,
    fgd_score,
)

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


ODD_MIX = ShapeMix(
    (HALF, WHOLE, Resources(8000), Resources(2000, gpu_milli=250), Resources(500, gpu_milli=700)),
    np.array([0.37, 0.29, 0.17, 0.11, 0.06]),
)
node_states = st.tuples(
    st.sampled_from([1000, 9000, 32000]), st.sampled_from([[1000, 1000], [500, 1000], [300, 700]])
)


@settings(max_examples=40)
@given(
    states=st.lists(node_states, min_size=DISTINCT_FROM, max_size=3 * DISTINCT_FROM),
    pod=st.sampled_from([HALF, Resources(500, gpu_milli=250), Resources(100, gpu_milli=300)]),
)
def test_a_share_trial_is_the_same_bits_whatever_nodes_are_tried_with_it(states, pod):
    # FGD's scores are whole numbers: an unchanged F scores 50 and one a last bit higher 49,
    # so a trial must not round differently when nodes are batched or deduplicated
    cluster = two_gpu_nodes(*(free for _, free in states))
    cluster.cpu_free[:] = [cpu for cpu, _ in states]
    index = FragmentationIndex(cluster, ODD_MIX)
    candidates = np.flatnonzero(cluster.feasible(pod))
    together, gpus = index.after(pod, candidates)
    for k, node in enumerate(candidates):
        alone, gpu = index.after(pod, np.array([node]))
        assert together[k].tobytes() == alone[0].tobytes()
        assert gpus[k] == gpu[0]


def test_distinct_rows_finds_the_first_of_each_and_maps_every_row_to_it():
    rows = np.array([[1, 2], [3, 4], [1, 2], [1, 3], [3, 4]])
    first, alike = distinct_rows(rows)
    assert np.array_equal(rows[first][alike], rows)
    assert sorted(first) == [0, 1, 3]


@settings(max_examples=40)
@given(
    binds=st.lists(st.tuples(st.integers(0, 5), st.sampled_from([HALF, WHOLE])), max_size=12),
    pod=st.sampled_from([HALF, Resources(500, gpu_milli=250)]),
)
def test_cached_scores_follow_every_bind_as_a_fresh_index_would(binds, pod):
    cluster = two_gpu_nodes(*([[1000, 1000]] * 6))
    index = FragmentationIndex(cluster, ODD_MIX)
    for node, bound in binds:
        candidates = np.flatnonzero(cluster.feasible(pod))
        index.scores_cached(pod, candidates)  # fills the cache at the state before the bind
        gpus = cluster.tightest_gpus(node, bound)
        if cluster.feasible(bound)[node]:
            cluster.bind(node, bound, gpus)
            index.update(node)
    candidates = np.flatnonzero(cluster.feasible(pod))
    if not len(candidates):
        return
    score, gpu = index.scores_cached(pod, candidates)
    fresh = FragmentationIndex(cluster, ODD_MIX)
    after, fresh_gpu = fresh.after(pod, candidates)
    assert np.array_equal(score, fgd_score(after - fresh.fragments[candidates]))
    assert np.array_equal(gpu[candidates], fresh_gpu)
