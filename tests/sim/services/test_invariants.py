"""Invariants of the twin under random demand: nothing over-committed, lost or negative."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import CPU4, GPU1, offering
from tidewise.capacity import FixedCapacity, NodeAutoscaler
from tidewise.model import InstanceType, PurchaseOption, Resources, WorkloadSpec
from tidewise.sim.services.cloud import CloudSettings
from tidewise.sim.services.replicas import FixedReplicas, HpaController
from tidewise.sim.services.twin import Twin, TwinSetup

WEB = WorkloadSpec("web", Resources(cpu_milli=700, memory_mib=1024), 10, 15, 1, 40, 0.6)
INFER = WorkloadSpec(
    "infer",
    Resources(cpu_milli=1000, memory_mib=2048, gpu_milli=300, gpu_memory_mib=4096),
    2,
    60,
    1,
    30,
    0.6,
)
OFFERINGS = (
    offering(CPU4, price=0.2),
    offering(GPU1, price=1.0),
    offering(CPU4, PurchaseOption.SPOT, price=0.08, interruptions_per_hour=2.0, notice_s=120),
    offering(GPU1, PurchaseOption.SPOT, price=0.4, interruptions_per_hour=2.0, notice_s=120),
)

demand = st.lists(st.floats(0, 200), min_size=20, max_size=90)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(web=demand, infer=demand, seed=st.integers(0, 2**16), spot=st.booleans())
def test_invariants_hold(web, infer, seed, spot):
    n = min(len(web), len(infer))
    setup = TwinSetup(
        horizon_s=n * 60.0,
        start_unix_s=0.0,
        workloads=(WEB, INFER),
        demand_rps=np.asarray([web[:n], [v / 10 for v in infer[:n]]]),
        offerings=OFFERINGS,
        cloud=CloudSettings(),
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: o.price_per_hour,
    )
    option = PurchaseOption.SPOT if spot else PurchaseOption.ON_DEMAND
    controllers = (
        [HpaController(), NodeAutoscaler(frozenset({option}))]
        if seed % 2
        else [FixedReplicas({"web": 5, "infer": 4}), FixedCapacity(option)]
    )
    twin = Twin(setup, controllers, np.random.default_rng(seed))
    result = twin.run("p")

    for node in twin.nodes.values():
        assert 0 <= node.allocated_cpu_milli <= node.capacity.cpu_milli
        assert 0 <= node.allocated_memory_mib <= node.capacity.memory_mib
        assert all(0 <= m <= 1000 for m in node.gpu_free_milli)
        assert all(0 <= m <= node.capacity.gpu_memory_mib for m in node.gpu_free_memory_mib)
        bound = [twin.pods[p] for p in twin.pods_on_node[node.name]]
        assert node.pod_count == len(bound)
        assert sum(p.requests.cpu_milli for p in bound) == node.allocated_cpu_milli
    for i, members in enumerate(twin.members):
        assert len(members) == twin.desired[i]  # no pod lost: every replica exists
    assert all(p.node is None or p.node in twin.nodes for p in twin.pods.values())
    assert result.cost_usd >= 0
    assert all(v >= 0 for v in result.cost_by_option_usd.values())
    assert 0 <= result.served_fraction <= 1
    series = result.timeseries
    for w in ("web", "infer"):
        assert all(c >= 0 for c in series.capacity_rps[w])


GPU2 = InstanceType(
    "gpu2", vcpus=8, memory_mib=32768, gpu_count=2, gpu_model="A10G", gpu_memory_mib=24576
)
WHOLE = WorkloadSpec(
    "whole", Resources(cpu_milli=500, memory_mib=1024, gpu_count=1), 2, 30, 1, 8, 0.6
)
BY_MEMORY = WorkloadSpec(  # aliyun.com/gpu-mem or `job submit --gpumemory 8`: no milli asked
    "by-memory", Resources(cpu_milli=500, memory_mib=1024, gpu_memory_mib=8192), 2, 30, 1, 8, 0.6
)


class WatchedTwin(Twin):
    """Checks after every bind that no GPU a pod holds whole is shared with another pod."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bound_workloads: set[str] = set()

    def _bind(self, pod, node_name, gpus):
        super()._bind(pod, node_name, gpus)
        self.bound_workloads.add(pod.workload)
        holders = {}
        for bound in self.pods.values():
            for gpu in bound.gpu_indices if bound.node else ():
                holders.setdefault((bound.node, gpu), []).append(bool(bound.requests.gpu_count))
        assert all(len(h) == 1 for h in holders.values() if any(h)), holders


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole=demand, by_memory=demand, seed=st.integers(0, 2**16))
def test_no_gpu_held_whole_is_ever_shared(whole, by_memory, seed):
    n = min(len(whole), len(by_memory))
    setup = TwinSetup(
        horizon_s=n * 60.0,
        start_unix_s=0.0,
        workloads=(WHOLE, BY_MEMORY),
        demand_rps=np.asarray([[v / 20 for v in whole[:n]], [v / 20 for v in by_memory[:n]]]),
        offerings=(offering(GPU2, price=1.0),),
        cloud=CloudSettings(),
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: o.price_per_hour,
    )
    controllers = [HpaController(), NodeAutoscaler(frozenset({PurchaseOption.ON_DEMAND}))]
    twin = WatchedTwin(setup, controllers, np.random.default_rng(seed))
    twin.run("p")
    assert twin.bound_workloads == {"whole", "by-memory"}
