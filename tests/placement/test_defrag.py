import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.model import Resources
from tidewise.placement.cluster import GpuCluster
from tidewise.placement.defrag import (
    NEVER,
    DefragPlan,
    PodLayout,
    RunningPod,
    asks_at_least,
    estimate_moves,
    landing_cost,
    plan_defrag,
)
from tidewise.placement.fit import gpu_fits, node_fits

GPU2 = Resources(32000, 131072, gpu_count=2, gpu_model="T4")
CPU_NODE = Resources(32000, 131072)
WHOLE = Resources(4000, 8192, gpu_count=1)
SHARE = Resources(2000, 4096, gpu_milli=300)


def cluster_with(nodes, pods):
    """A cluster and its layout with ``pods`` (key, node, gpus, request, extras) bound."""
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=True)
    running = []
    for key, node, gpus, request, *extra in pods:
        cluster.bind(node, request, gpus)
        running.append(RunningPod(key, node, gpus, request, *extra))
    return cluster, PodLayout(cluster, running)


def apply(cluster: GpuCluster, layout: PodLayout, pod: Resources, plan: DefragPlan) -> None:
    """Carry the plan out on ``cluster`` (raises if anything over-commits)."""
    moved = [layout.pods[m.pod] for m in plan.moves]
    for p in moved:
        cluster.release(p.node, p.request, p.gpus)
    cluster.bind(plan.node, pod, plan.gpus)
    for move, p in zip(plan.moves, moved, strict=True):
        cluster.bind(move.node, p.request, move.gpus)


def test_one_move_frees_a_gpu_and_the_share_lands_beside_another():
    # four GPUs, each with one 0.3 share: no idle GPU, plenty of share free
    cluster, layout = cluster_with(
        [GPU2, GPU2],
        [
            ("a", 0, (0,), SHARE),
            ("b", 0, (1,), SHARE),
            ("c", 1, (0,), SHARE),
            ("d", 1, (1,), SHARE),
        ],
    )
    assert not cluster.feasible(WHOLE).any()
    plan = plan_defrag(cluster, layout, WHOLE)
    assert plan is not None and len(plan.moves) == 1
    (move,) = plan.moves
    assert move.pod == "a" and (plan.node, plan.gpus) == (0, (0,))
    assert (move.node, move.gpus) == (0, (1,))  # the tightest gap: beside b on the same node
    apply(cluster, layout, WHOLE, plan)
    assert cluster.gpu_free[0].tolist() == [0, 400]


def test_the_node_needing_fewest_moves_wins():
    cluster, layout = cluster_with(
        [GPU2, GPU2, CPU_NODE],
        [
            ("a1", 0, (0,), SHARE),
            ("a2", 0, (0,), SHARE),
            ("a3", 0, (1,), SHARE),
            ("b1", 1, (0,), SHARE),
            ("b2", 1, (1,), SHARE),
            ("b3", 1, (1,), SHARE),
        ],
    )
    plan = plan_defrag(cluster, layout, WHOLE)
    assert plan is not None and len(plan.moves) == 1
    assert plan.moves[0].pod in {"a3", "b1"}


def test_do_not_disrupt_and_whole_gpu_pods_never_move():
    pods = [
        ("a", 0, (0,), SHARE, (), False),  # do-not-disrupt
        ("b", 0, (1,), WHOLE),
        ("c", 1, (0,), SHARE),
        ("d", 1, (1,), SHARE),
    ]
    cluster, layout = cluster_with([GPU2, GPU2], pods)
    plan = plan_defrag(cluster, layout, WHOLE)
    assert plan is not None and [m.pod for m in plan.moves] == ["c"]
    assert plan.node == 1
    pods[2] = ("c", 1, (0,), SHARE, (), False)
    pods[3] = ("d", 1, (1,), SHARE, (), False)
    cluster, layout = cluster_with([GPU2, GPU2], pods)
    assert plan_defrag(cluster, layout, WHOLE) is None


def test_disruption_budgets_are_never_exceeded():
    pods = [
        ("a", 0, (0,), SHARE, ("web",)),
        ("b", 0, (1,), SHARE, ("web",)),
        ("c", 1, (0,), SHARE, ("web",)),
        ("d", 1, (1,), SHARE, ("batch",)),
    ]
    cluster, layout = cluster_with([GPU2, GPU2], pods)
    assert plan_defrag(cluster, layout, WHOLE, budgets={"web": 0, "batch": 0}) is None
    plan = plan_defrag(cluster, layout, WHOLE, budgets={"web": 0, "batch": 1})
    assert plan is not None and [m.pod for m in plan.moves] == ["d"]
    # two GPUs wanted: both web pods must go (to the one-GPU node); web allows one
    one_gpu = Resources(16000, 65536, gpu_count=1, gpu_model="T4")
    cluster2, layout2 = cluster_with([GPU2, one_gpu], pods[:2])
    two = Resources(4000, 8192, gpu_count=2)
    assert plan_defrag(cluster2, layout2, two, budgets={"web": 1}) is None
    assert plan_defrag(cluster2, layout2, two, budgets={"web": 2}) is not None


def test_cpu_held_by_a_cpu_only_pod_is_freed_by_moving_it_to_a_cpu_node():
    hog = Resources(30000, 8192)
    cluster, layout = cluster_with([GPU2, CPU_NODE], [("hog", 0, (), hog)])
    assert not cluster.feasible(WHOLE)[0]
    plan = plan_defrag(cluster, layout, WHOLE)
    assert plan is not None and plan.node == 0
    assert [(m.pod, m.node, m.gpus) for m in plan.moves] == [("hog", 1, ())]


def test_relief_moves_a_cpu_only_pod_off_the_node_where_a_share_can_land():
    # node 0: one GPU, a share on it, its CPU full; node 1: a GPU with room for the share
    # but no CPU, held by a CPU-only pod; node 2: CPU only, with room for that pod
    one_gpu = Resources(8000, 65536, gpu_count=1, gpu_model="T4")
    hog = Resources(6000, 4096)
    pods = [("s", 0, (0,), SHARE), ("pin", 0, (), hog, (), False)]
    pods += [("t", 1, (0,), SHARE), ("hog", 1, (), hog)]
    cluster, layout = cluster_with([one_gpu, one_gpu, CPU_NODE], pods)
    assert landing_cost(cluster, layout)[0, 0] == 1  # its share lands only after relief
    plan = plan_defrag(cluster, layout, Resources(2000, 4096, gpu_count=1))
    assert plan is not None and plan.node == 0
    assert {(m.pod, m.node) for m in plan.moves} == {("s", 1), ("hog", 2)}
    assert plan_defrag(cluster, layout, Resources(2000, 4096, gpu_count=1), max_moves=1) is None


def test_no_plan_when_the_moved_pods_cannot_land():
    big = Resources(2000, 4096, gpu_milli=800)
    cluster, layout = cluster_with([GPU2], [("a", 0, (0,), big), ("b", 0, (1,), big)])
    assert (estimate_moves(cluster, layout, WHOLE, landing_cost(cluster, layout)) == NEVER).all()
    assert plan_defrag(cluster, layout, WHOLE) is None


def test_a_share_that_fits_nowhere_moves_the_fewest_and_smallest_pods():
    half = Resources(1000, 1024, gpu_milli=500)
    small = Resources(1000, 1024, gpu_milli=200)
    cluster, layout = cluster_with(
        [GPU2], [("h", 0, (0,), half), ("s1", 0, (1,), small), ("s2", 0, (1,), small)]
    )
    want = Resources(1000, 1024, gpu_milli=700)
    assert not cluster.feasible(want).any()
    plan = plan_defrag(cluster, layout, want)
    # one move either way (h to GPU 1, or one small pod to GPU 0): the smaller share moves
    assert plan is not None and [m.pod for m in plan.moves] == ["s1"]
    assert plan.gpus == (1,) and plan.moves[0].gpus == (0,)
    most = Resources(1000, 1024, gpu_milli=900)  # one move still: h goes beside the small ones
    plan = plan_defrag(cluster, layout, most)
    assert plan is not None and [(m.pod, m.gpus) for m in plan.moves] == [("h", (1,))]


def filled_third_node(pods):
    """Three nodes of two GPUs: the ``pods`` on nodes 0 and 1, node 2's GPUs 0.9 taken by
    pods that are not in the layout (they never move)."""
    cluster, layout = cluster_with([GPU2, GPU2, GPU2], pods)
    for g in (0, 1):
        cluster.bind(2, Resources(0, 0, gpu_milli=900), (g,))
    return cluster, layout


def test_a_moved_pod_lands_only_where_it_may_run_and_the_pod_only_where_allowed():
    # four GPUs with one 0.3 share each; moving "a" to beside "b" is the cheapest plan
    pods = [("a", 0, (0,), SHARE), ("b", 0, (1,), SHARE), ("c", 1, (0,), SHARE)]
    pods.append(("d", 1, (1,), SHARE))
    plan = plan_defrag(*filled_third_node(pods), WHOLE)
    assert plan is not None and [(m.pod, m.node) for m in plan.moves] == [("a", 0)]
    # "a" may only run on node 1 (a taint on node 0 it does not tolerate, say)
    cluster, layout = filled_third_node([(*pods[0], (), True, frozenset({1})), *pods[1:]])
    plan = plan_defrag(cluster, layout, WHOLE)
    assert plan is not None and [(m.pod, m.node) for m in plan.moves] == [("a", 1)]
    # the waiting pod may not run on node 0: the plan frees a GPU on node 1
    plan = plan_defrag(cluster, layout, WHOLE, allowed=np.array([False, True, True]))
    assert plan is not None and plan.node == 1
    assert all(m.node != 0 or m.pod != "a" for m in plan.moves)
    # nor on node 1: only node 2 is left, whose GPUs no plan frees
    assert plan_defrag(cluster, layout, WHOLE, allowed=np.array([False, False, True])) is None
    # moved pods that may run only on node 2, where no share fits: no plan
    only_two = [(*p, (), True, frozenset({2})) for p in pods]
    assert plan_defrag(*filled_third_node(only_two), WHOLE) is None


def test_a_moved_share_that_fits_no_gap_lands_where_smaller_shares_are_moved_off():
    big, small, fixed = (Resources(2000, 4096, gpu_milli=m) for m in (600, 200, 200))
    pods = [("a", 0, (0,), big), ("b", 0, (1,), big)]
    pods += [("s1", 1, (0,), small), ("s2", 1, (0,), small)]
    pods += [("p", 1, (0,), fixed, (), False), ("q", 1, (1,), Resources(2000, 4096, gpu_milli=700))]
    cluster, layout = cluster_with([GPU2, GPU2], pods)
    # no gap anywhere takes a 0.6 share (0.4 free at most), so freeing a GPU of node 0 needs
    # a chain: one small share leaves node 1's GPU 0 (for node 0's other GPU), and the 0.6
    # share goes there
    assert plan_defrag(cluster, layout, WHOLE, max_moves=4) is None  # chains are off
    assert plan_defrag(cluster, layout, WHOLE, max_moves=1, chains=True) is None
    plan = plan_defrag(cluster, layout, WHOLE, max_moves=4, chains=True)
    assert plan is not None and plan.node == 0 and len(plan.moves) == 2
    (small_move, share_move) = plan.moves  # the small share first: it makes the room
    assert small_move.pod in ("s1", "s2") and share_move.pod in ("a", "b")
    assert (small_move.node, small_move.gpus) == (0, tuple({0, 1} - set(plan.gpus)))
    assert (share_move.node, share_move.gpus) == (1, (0,))
    apply(cluster, layout, WHOLE, plan)  # nothing over-committed


def test_asks_at_least():
    assert asks_at_least(Resources(5000, gpu_count=2), Resources(4000, gpu_count=1))
    assert not asks_at_least(Resources(3000, gpu_count=2), Resources(4000, gpu_count=1))
    assert not asks_at_least(Resources(5000, gpu_count=1), Resources(4000, gpu_milli=500))
    pinned = Resources(5000, gpu_milli=600, gpu_model="T4")
    assert asks_at_least(pinned, Resources(4000, gpu_milli=500))
    assert not asks_at_least(
        Resources(5000, gpu_milli=600), Resources(4000, gpu_milli=500, gpu_model="T4")
    )


# -- properties ----------------------------------------------------------------------------

NODE_KINDS = [
    Resources(16000, 65536, gpu_count=2, gpu_model="T4"),
    Resources(32000, 131072, gpu_count=4, gpu_model="V100"),
    Resources(8000, 32768, gpu_count=1, gpu_model="T4"),
    Resources(16000, 65536),
]
POD_KINDS = [
    Resources(1000, 2048, gpu_milli=250),
    Resources(2000, 4096, gpu_milli=500),
    Resources(3000, 4096, gpu_milli=700),
    Resources(4000, 8192, gpu_count=1),
    Resources(2000, 4096),
    Resources(6000, 8192),
]


@st.composite
def scenarios(draw):
    nodes = draw(st.lists(st.sampled_from(NODE_KINDS), min_size=1, max_size=5))
    cluster = GpuCluster(nodes, cpu_pods_on_gpu_nodes=True)
    running = []
    order = np.arange(len(nodes))
    # where each pod may run (selector, affinity, taints): everywhere, or a drawn subset
    somewhere = st.none() | st.frozensets(st.integers(0, len(nodes) - 1), min_size=1)
    for key in range(draw(st.integers(0, 14))):
        request = draw(st.sampled_from(POD_KINDS))
        feasible = np.flatnonzero(cluster.feasible(request))
        if not len(feasible):
            continue
        node = int(feasible[draw(st.integers(0, len(feasible) - 1))])
        gpus = cluster.tightest_gpus(node, request)
        cluster.bind(node, request, gpus)
        running.append(
            RunningPod(
                key,
                node,
                gpus,
                request,
                budgets=draw(st.sampled_from([(), ("a",), ("b",), ("a", "b")])),
                movable=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
                nodes=draw(somewhere),
            )
        )
    pending = draw(st.sampled_from(POD_KINDS[:4]))
    budgets = {"a": draw(st.integers(0, 2)), "b": draw(st.integers(0, 2))}
    max_moves = draw(st.integers(0, 4))
    allowed = draw(st.none() | st.lists(st.booleans(), min_size=len(nodes), max_size=len(nodes)))
    allowed = None if allowed is None else np.array(allowed, dtype=bool)
    layout = PodLayout(cluster, running)
    chains = draw(st.booleans())
    return cluster, layout, pending, budgets, max_moves, order, allowed, chains


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_a_plan_keeps_every_rule_and_makes_the_pod_fit(scenario):
    cluster, layout, pending, budgets, max_moves, order, allowed, chains = scenario
    before = [a.copy() for a in (cluster.cpu_free, cluster.memory_free, cluster.gpu_free)]
    pods_before = dict(layout.pods)
    plan = plan_defrag(
        cluster,
        layout,
        pending,
        budgets=budgets,
        max_moves=max_moves,
        rank=order,
        allowed=allowed,
        chains=chains,
    )
    # pure: neither the cluster nor the layout changed
    after = (cluster.cpu_free, cluster.memory_free, cluster.gpu_free)
    assert all((x == y).all() for x, y in zip(before, after, strict=True))
    assert layout.pods == pods_before
    if plan is None:
        return
    assert len(plan.moves) <= max_moves
    moved = [layout.pods[m.pod] for m in plan.moves]
    assert len({p.key for p in moved}) == len(moved)
    # never a do-not-disrupt pod nor one holding whole GPUs
    assert all(p.movable and not p.request.gpu_count for p in moved)
    # never past a budget's allowance
    for name, allowance in budgets.items():
        assert sum(name in p.budgets for p in moved) <= allowance
    # the estimate never counted more moves than the plan needs
    landing = landing_cost(cluster, layout, chains=chains)
    estimate = estimate_moves(cluster, layout, pending, landing)
    assert estimate[plan.node] <= len(plan.moves)
    # after the moves the pod fits where the plan says, and every moved pod has a
    # destination that holds it (apply raises on any over-commit)
    trial = cluster.copy()
    for p in moved:
        trial.release(p.node, p.request, p.gpus)
    assert node_fits(
        pending, True, int(trial.cpu_free[plan.node]), int(trial.memory_free[plan.node]), True
    )
    for g in plan.gpus:
        free = (trial.gpu_free[plan.node, g], trial.gpu_memory_free[plan.node, g])
        assert gpu_fits(pending, *free, trial.gpu_memory_cap[plan.node, g])
    apply(cluster.copy(), layout, pending, plan)
    assert all(0 <= m.node < len(cluster) for m in plan.moves)
    # never a pod where it could not run: the waiting pod, nor any moved pod
    assert allowed is None or allowed[plan.node]
    for move, p in zip(plan.moves, moved, strict=True):
        assert p.nodes is None or move.node in p.nodes


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_a_pod_that_fits_needs_no_moves(scenario):
    cluster, layout, pending, budgets, max_moves, order, allowed, _ = scenario
    feasible = cluster.feasible(pending)
    if (feasible if allowed is None else feasible & allowed).any():
        plan = plan_defrag(
            cluster,
            layout,
            pending,
            budgets=budgets,
            max_moves=max_moves,
            rank=order,
            allowed=allowed,
        )
        assert plan is not None and plan.moves == ()
