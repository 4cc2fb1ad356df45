"""The gpu-pack experiment with moves: our moves within the budget, the FGD simulator's
descheduling passes, and the sliver bound (the plan itself: tests/placement/test_defrag.py)."""

import numpy as np
import pytest

from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.frag import ShapeMix
from tidewise.placement.gpu_policies import FgdPolicy, Placement
from tidewise.sim.gpupack.bench import GPU_POLICIES, run_once
from tidewise.sim.gpupack.bench.moves import (
    DESCHEDULERS,
    Mover,
    Packing,
    deschedule,
    run_moves_once,
    sliver_bound,
)

NODE = Resources(16000, 65536, gpu_count=2, gpu_model="T4")
SHARE = Resources(1000, 1024, gpu_milli=300)
WHOLE = Resources(1000, 1024, gpu_count=1)


def packing(nodes, mix_pods):
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=True)
    mix = ShapeMix.from_pods(mix_pods)
    rank = np.arange(len(nodes))
    policy = FgdPolicy(rank, mix)
    return Packing(cluster, policy, policy.index_for(cluster), rank, np.random.default_rng(0))


def test_moves_place_a_whole_gpu_pod_within_the_budget():
    pack = packing([NODE, NODE], [SHARE, WHOLE])
    for key, (node, gpu) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        pack.bind(key, SHARE, Placement(node, (gpu,)))
    assert not pack.place(9, WHOLE)
    assert not pack.defragment(9, WHOLE, Mover("moves", 0.0))  # no budget, no move
    assert pack.defragment(9, WHOLE, Mover("moves", 0.25))  # 1 of 4 placed may move
    assert pack.moved == 1 and pack.lost == 0 and len(pack.layout) == 5
    assert pack.cluster.gpu_allocated == 4 * 300 + 1000


def test_a_zero_budget_changes_nothing():
    nodes = [NODE] * 3
    pods = [SHARE, WHOLE, Resources(2000, 4096, gpu_milli=600)]
    mix = ShapeMix.from_pods(pods)
    alone = run_once(nodes, pods, GPU_POLICIES["fgd"], 5, 1.3, mix)
    for kind in ("moves", *DESCHEDULERS):
        moved = run_moves_once(nodes, pods, GPU_POLICIES["fgd"], 5, 1.3, mix, Mover(kind, 0.0))
        assert moved.alloc_pct_at == alone.alloc_pct_at and moved.moved == 0


@pytest.mark.parametrize("kind", DESCHEDULERS)
def test_a_descheduling_pass_evicts_at_most_its_ratio(kind):
    big = Resources(1000, 1024, gpu_milli=600)
    pack = packing([NODE] * 3, [SHARE, WHOLE, big])
    shapes = [SHARE, big, SHARE, big, SHARE, SHARE]
    for key, pod in enumerate(shapes):
        pack.bind(key, pod, Placement(key // 2, (key % 2,)))
    before = pack.cluster.gpu_allocated
    evicted = deschedule(pack, Mover(kind, 0.2))  # ceil(0.2 x 6) = 2
    assert len(evicted) <= 2
    assert pack.cluster.gpu_allocated == before - sum(p.request.gpu_milli for p in evicted)
    assert len(pack.layout) == 6 - len(evicted)


def test_frag_one_pod_evicts_where_fragmentation_drops_most():
    # node 0: a 0.3 share alone on a GPU, a 0.3 share beside it: evicting one frees a GPU
    pack = packing([NODE, NODE], [WHOLE])
    pack.bind(0, SHARE, Placement(0, (0,)))
    pack.bind(1, SHARE, Placement(0, (1,)))
    pack.bind(2, WHOLE, Placement(1, (0,)))
    pack.bind(3, WHOLE, Placement(1, (1,)))
    evicted = deschedule(pack, Mover("fragOnePod", 0.25))
    assert [p.key for p in evicted] in ([0], [1])


def test_sliver_bound():
    big = Resources(1000, gpu_milli=700)
    small = Resources(1000, gpu_milli=200)
    # two 0.7 shares leave 2 x 0.3; the workload's shares of at most 0.3: one 0.2
    assert sliver_bound([big, big], [big, big, small], 4000) == 100 - 100 * 400 / 4000
    assert sliver_bound([small], [small], 1000) == 100  # no share above half: no sliver
