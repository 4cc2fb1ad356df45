from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.placement.strategies import requests
from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import ShapeMix
from tidewise.placement.gpu_policies import (
    BestFitPolicy,
    DotProductPolicy,
    FgdPolicy,
    GpuClusteringPolicy,
    GpuPackingPolicy,
    Placement,
    RandomPolicy,
    TidewisePolicy,
    first_ranked,
)

HALF = Resources(1000, gpu_milli=500)
WHOLE = Resources(1000, gpu_count=1)
MIX = ShapeMix((HALF, WHOLE), np.array([0.5, 0.5]))


def cluster_of(*free, gpus=2, cpu=32000):
    node = Resources(cpu, 65536, gpu_count=gpus, gpu_model="T4")
    cluster = GpuCluster([node] * len(free), cpu_pods_on_gpu_nodes=True)
    for i, f in enumerate(free):
        cluster.gpu_free[i, :gpus] = f
    return cluster


def place(policy, cluster, pod, seed=0):
    candidates = np.flatnonzero(cluster.feasible(pod))
    return policy.place(cluster, pod, candidates, np.random.default_rng(seed))


def test_ties_go_to_the_first_ranked_node():
    rank = np.array([2, 0, 1])
    assert first_ranked(np.array([5.0, 5.0, 5.0]), np.array([0, 1, 2]), rank) == 1
    assert first_ranked(np.array([5.0, 7.0]), np.array([0, 2]), rank) == 2


@given(
    scores=st.lists(st.integers(-1, 100), min_size=1, max_size=30),
    seed=st.integers(0, 2**32 - 1),
)
def test_first_ranked_is_the_best_score_then_the_best_rank(scores, seed):
    rng = np.random.default_rng(seed)
    rank = rng.permutation(64)
    candidates = np.sort(rng.choice(64, size=len(scores), replace=False))
    values = np.floor(np.array(scores, dtype=np.float64))
    best = candidates[values == values.max()]
    assert first_ranked(values, candidates, rank) == best[np.argmin(rank[best])]


def test_fgd_fills_the_half_used_gpu():
    cluster = cluster_of([1000, 1000], [500, 1000])
    assert place(FgdPolicy(np.array([0, 1]), MIX), cluster, HALF) == Placement(1, (0,))


def test_best_fit_prefers_least_leftover():
    cluster = cluster_of([1000, 1000], [500, 1000])
    assert place(BestFitPolicy(np.array([0, 1])), cluster, HALF) == Placement(1, (0,))


def test_dot_product_prefers_less_free_resource():
    # scores 98 and 99: 1 - (2000 x 1000 / 8000^2 + cpu) / 2 against 1 - (1000 x 1000 / ...) / 2
    cluster = cluster_of([1000, 1000], [1000, 0])
    assert place(DotProductPolicy(np.array([0, 1])), cluster, WHOLE) == Placement(1, (0,))
    # truncated to whole numbers, small differences tie and the node order decides
    cluster = cluster_of([1000, 1000], [1000, 300])
    assert place(DotProductPolicy(np.array([0, 1])), cluster, HALF).node == 0


def test_gpu_packing_tiers():
    # partly used GPU (tier 1) beats idle GPU on a used node (tier 2) beats an idle node
    cluster = cluster_of([1000, 1000], [1000, 400], [600, 1000])
    policy = GpuPackingPolicy(np.array([0, 1, 2]))
    assert place(policy, cluster, Resources(100, gpu_milli=300)) == Placement(1, (1,))
    assert place(policy, cluster, WHOLE).node == 1  # tier 2: max(50 - 1, 33) on both used nodes
    assert place(policy, cluster_of([1000, 1000], [1000, 1000], gpus=2), WHOLE).node == 0


def test_gpu_clustering_keeps_classes_together():
    cluster = cluster_of([1000, 1000], [1000, 1000], [1000, 1000])
    policy = GpuClusteringPolicy(np.array([0, 1, 2]))
    first = place(policy, cluster, HALF)
    cluster.bind(first.node, HALF, first.gpus)
    policy.bound(cluster, HALF, first)
    whole = place(policy, cluster, WHOLE)
    assert whole.node != first.node  # an idle node (band 25) beats a node of another class (0)
    assert place(policy, cluster, HALF).node == first.node  # same class only: band 75


def test_cpu_only_pods_follow_node_order_under_packing():
    cluster = cluster_of([1000, 1000], [1000, 1000])
    assert place(GpuPackingPolicy(np.array([1, 0])), cluster, Resources(1000)) == Placement(1, ())


def placement_is_feasible(cluster: GpuCluster, pod: Resources, placement: Placement) -> bool:
    """Whether the placement fits the node's free resources now."""
    node = placement.node
    if not cluster.feasible(pod)[node] or len(set(placement.gpus)) != pod.gpu_devices:
        return False
    fits = cluster.fitting_gpus(pod, slice(node, node + 1))[0]
    return all(0 <= g < cluster.gpu_count[node] and fits[g] for g in placement.gpus)


def factories():
    rank = np.array([3, 1, 0, 2])
    return [
        RandomPolicy(),
        DotProductPolicy(rank),
        GpuPackingPolicy(rank),
        GpuClusteringPolicy(rank),
        BestFitPolicy(rank),
        FgdPolicy(rank, MIX),
        TidewisePolicy(rank),
    ]


@settings(max_examples=30, deadline=None)
@given(pods=st.lists(requests, max_size=25), seed=st.integers(0, 1000), cpu_on_gpu=st.booleans())
def test_every_policy_places_feasibly_and_shares_no_gpu_held_whole(pods, seed, cpu_on_gpu):
    nodes = [
        Resources(16000, 65536, gpu_count=4, gpu_model="V100", gpu_memory_mib=16384),
        Resources(8000, 65536, gpu_count=2, gpu_model="T4", gpu_memory_mib=16384),
        Resources(32000, 65536, gpu_count=3, gpu_model="A10"),  # GPU memory unknown
        Resources(4000, 65536, gpu_count=1, gpu_model="T4", gpu_memory_mib=16384),
    ]
    rng = np.random.default_rng(seed)
    for policy in factories():
        cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=cpu_on_gpu)
        holders = defaultdict(list)  # (node, GPU) -> whether each pod there holds it whole
        for pod in pods:
            policy.arrived(pod)
            candidates = np.flatnonzero(cluster.feasible(pod))
            if not len(candidates):
                continue
            placement = policy.place(cluster, pod, candidates, rng)
            assert placement_is_feasible(cluster, pod, placement), policy.name
            cluster.bind(placement.node, pod, placement.gpus)
            policy.bound(cluster, pod, placement)
            for gpu in placement.gpus:
                holders[placement.node, gpu].append(bool(pod.gpu_count))
                assert (
                    not any(holders[placement.node, gpu]) or len(holders[placement.node, gpu]) == 1
                )
