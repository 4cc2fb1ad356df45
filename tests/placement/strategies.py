"""Generated pods and nodes for the fit rule's property tests."""

from hypothesis import strategies as st

from tidewise.model import InstanceType, Node, NodeState, Offering, PurchaseOption, Resources

MODELS = ("A10", "T4", "V100")

capacities = st.one_of(
    st.builds(Resources, cpu_milli=st.integers(1000, 64000), memory_mib=st.integers(1024, 131072)),
    st.builds(
        Resources,
        cpu_milli=st.integers(1000, 64000),
        memory_mib=st.integers(1024, 131072),
        gpu_count=st.integers(1, 4),
        gpu_memory_mib=st.sampled_from([0, 16384, 24576]),
        gpu_model=st.sampled_from(MODELS),
    ),
)

models = st.one_of(
    st.none(), st.lists(st.sampled_from(MODELS), min_size=1, max_size=2).map("|".join)
)
cpu = st.integers(0, 8000)
memory = st.integers(0, 16384)

requests = st.one_of(
    st.builds(Resources, cpu_milli=cpu, memory_mib=memory),
    st.builds(
        Resources,
        cpu_milli=cpu,
        memory_mib=memory,
        gpu_milli=st.sampled_from([0, 100, 250, 500, 999]),
        gpu_memory_mib=st.sampled_from([0, 4096, 8192, 20480]),
        gpu_model=models,
    ).filter(lambda r: r.wants_gpu),
    st.builds(  # a share sized by memory alone (aliyun.com/gpu-mem, job submit --gpumemory)
        Resources,
        cpu_milli=cpu,
        memory_mib=memory,
        gpu_memory_mib=st.sampled_from([4096, 8192, 20480]),
        gpu_model=models,
    ),
    st.builds(
        Resources,
        cpu_milli=cpu,
        memory_mib=memory,
        gpu_count=st.integers(1, 3),
        gpu_memory_mib=st.sampled_from([0, 16384, 20000]),
        gpu_model=models,
    ),
)


def node_of(capacity: Resources, name: str = "n") -> Node:
    """An empty Ready node of this capacity."""
    itype = InstanceType(
        name,
        capacity.cpu_milli / 1000,
        capacity.memory_mib,
        capacity.gpu_count,
        capacity.gpu_model,
        capacity.gpu_memory_mib,
    )
    return Node(
        name=name,
        offering=Offering(itype, "z", PurchaseOption.ON_DEMAND, 1.0),
        capacity=capacity,
        state=NodeState.READY,
        launched_s=0.0,
    )
