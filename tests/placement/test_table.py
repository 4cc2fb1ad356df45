from hypothesis import given
from hypothesis import strategies as st

from tests.factories import CPU4, CPU8, GPU1, node
from tidewise.model import InstanceType, Resources
from tidewise.placement import NodeTable, best_fit, fit_on, with_pod

GPU4 = InstanceType("gpu4", 32, 131072, gpu_count=4, gpu_model="V100", gpu_memory_mib=16384)
WEB = Resources(cpu_milli=1000, memory_mib=2048)


def test_best_fit_picks_the_fullest_node_that_fits():
    roomy = node(CPU8, "roomy")
    snug = with_pod(with_pod(node(CPU4, "snug"), WEB, ()), WEB, ())
    full = with_pod(node(CPU4, "full"), Resources(cpu_milli=4000), ())
    chosen, gpus = best_fit(WEB, NodeTable([roomy, full, snug]))
    assert chosen.name == "snug" and gpus == ()


def test_ties_go_to_the_first_node_and_nothing_fits_is_none():
    a, b = node(CPU4, "a"), node(CPU4, "b")
    assert best_fit(WEB, NodeTable([a, b]))[0].name == "a"
    assert best_fit(Resources(cpu_milli=5000), NodeTable([a, b])) is None
    assert best_fit(WEB, NodeTable([])) is None


def test_update_reflects_a_bind():
    a = node(CPU4, "a")
    table = NodeTable([a])
    table.update(with_pod(a, Resources(cpu_milli=3500), ()))
    assert best_fit(WEB, table) is None


requests = st.one_of(
    st.builds(Resources, cpu_milli=st.integers(0, 9000), memory_mib=st.integers(0, 40000)),
    st.builds(
        Resources,
        cpu_milli=st.integers(0, 5000),
        gpu_milli=st.integers(1, 999),
        gpu_memory_mib=st.integers(0, 20000),
        gpu_model=st.sampled_from([None, "V100", "A10G", "V100|A10G", "T4"]),
    ),
    st.builds(
        Resources,
        cpu_milli=st.integers(0, 5000),
        gpu_count=st.integers(1, 5),
        gpu_memory_mib=st.integers(0, 20000),
    ),
)


@given(
    load=st.lists(st.tuples(st.integers(0, 3), requests), max_size=12),
    ask=requests,
)
def test_table_agrees_with_the_fit_rule(load, ask):
    nodes = [node(CPU4, "c4"), node(CPU8, "c8"), node(GPU1, "g1"), node(GPU4, "g4")]
    for i, r in load:
        gpus = fit_on(nodes[i], r)
        if gpus is not None:
            nodes[i] = with_pod(nodes[i], r, gpus)
    feasible = NodeTable(nodes).feasible(ask)
    assert list(feasible) == [fit_on(n, ask) is not None for n in nodes]
