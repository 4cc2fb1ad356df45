"""The capacity stack inside the twin: on-demand bases, failures, serverless containers."""

from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import CPU4, offering, serverless
from tidewise.capacity import NodeAutoscaler, NodeAutoscalerSettings
from tidewise.capacity.interruptions import InterruptionHandler
from tidewise.model import (
    GUARANTEED,
    CapacityRules,
    ClusterView,
    Decision,
    InstanceType,
    Launch,
    PodPhase,
    PurchaseOption,
    Resources,
    ScaleTo,
    WorkloadSpec,
)
from tidewise.sim.services.cloud import CloudSettings, Storm
from tidewise.sim.services.replicas import FixedReplicas
from tidewise.sim.services.twin import Twin, TwinSetup

OD = offering(CPU4, price=0.2)
SPOT_A = offering(CPU4, PurchaseOption.SPOT, price=0.06, interruptions_per_hour=1.0, notice_s=120)
SPOT_B = replace(SPOT_A, zone="z2", price_per_hour=0.07)
SPOT_OD = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})


def web(rules: CapacityRules) -> WorkloadSpec:
    requests = Resources(cpu_milli=1000, memory_mib=2048)
    return WorkloadSpec("web", requests, 10, 20, 1, 40, 0.7, rules)


def setup(spec: WorkloadSpec, minutes: int, cloud: CloudSettings) -> TwinSetup:
    return TwinSetup(
        horizon_s=minutes * 60.0,
        start_unix_s=0.0,
        workloads=(spec,),
        demand_rps=np.full((1, minutes), 50.0),
        offerings=(OD, SPOT_A, SPOT_B),
        cloud=cloud,
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: 0.2,
    )


@dataclass
class BaseProbe:
    """Checks the base every 5 s and steps the replicas through ``sizes`` (one a minute)."""

    spec: WorkloadSpec
    sizes: list[int]
    period_s: float = 5.0
    checks: int = 0
    seen: list[str] = field(default_factory=list)

    def decide(self, view: ClusterView) -> list[Decision]:
        nodes = {n.name: n for n in view.nodes}
        desired = view.workloads[0].desired
        pinned = [p for p in view.pods if p.capacity_types is not None]
        assert len(pinned) == self.spec.rules.base(desired)
        for pod in pinned:
            assert pod.capacity_types == GUARANTEED
            if pod.node is not None:
                assert nodes[pod.node].offering.option is not PurchaseOption.SPOT, pod
        self.checks += 1
        minute = int(view.time_s // 60)
        if minute < len(self.sizes) and view.time_s % 60 == 0:
            return [ScaleTo("web", self.sizes[minute])]
        return []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.one_of(st.integers(0, 4), st.floats(0.0, 1.0).map(lambda f: round(f, 2))),
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=20),
    storm=st.tuples(st.floats(0, 1800), st.floats(60, 1800), st.floats(1, 200), st.floats(0, 1)),
    seed=st.integers(0, 2**16),
)
def test_the_on_demand_base_is_honoured_under_any_interruption_pattern(base, sizes, storm, seed):
    """Random interruption storms (rate x1-x200, spot capacity 0-100 %) and replica changes:
    at every check, exactly ``base(desired)`` pods are pinned, and none sits on spot; once
    the storm is over and the replicas settle, the whole base runs."""
    rules = (
        CapacityRules(on_demand_base=base)
        if isinstance(base, int)
        else CapacityRules(on_demand_base_pct=base)
    )
    spec = web(rules)
    start, length, multiplier, capacity = storm
    cloud = CloudSettings(storms=(Storm(start, start + length, multiplier, capacity),))
    probe = BaseProbe(spec, sizes)
    controllers = [
        FixedReplicas({"web": sizes[0]}),
        probe,
        NodeAutoscaler(SPOT_OD, NodeAutoscalerSettings(unneeded_s=120, delay_after_add_s=60)),
        InterruptionHandler(SPOT_OD),
    ]
    minutes = 70
    twin = Twin(setup(spec, minutes, cloud), controllers, np.random.default_rng(seed))
    twin.run("base")
    assert probe.checks > 0
    if start + length < (minutes - 10) * 60:
        pinned = [p for p in twin.pods.values() if p.capacity_types is not None]
        assert all(p.phase is PodPhase.RUNNING for p in pinned)


def test_a_node_that_fails_after_ready_is_given_back_and_its_pods_run_elsewhere():
    spec = web(CapacityRules())
    cloud = CloudSettings(node_failures_per_hour=2.0)
    heal = NodeAutoscalerSettings(max_not_ready_s=60.0)
    od = frozenset({PurchaseOption.ON_DEMAND})

    def run(settings: NodeAutoscalerSettings):
        controllers = [FixedReplicas({"web": 8}), NodeAutoscaler(od, settings)]
        twin = Twin(setup(spec, 180, cloud), controllers, np.random.default_rng(5))
        return twin, twin.run("fail")

    healed_twin, healed = run(heal)
    _, slow = run(NodeAutoscalerSettings())  # cluster-autoscaler: 20 min, pods gone at 5
    assert healed.evictions > 0  # nodes failed and their pods were moved
    assert healed.pods_lost == 0
    horizon = 180 * 60.0
    failed = [n.failed_s for n in healed_twin.nodes.values() if n.failed_s is not None]
    assert all(t > horizon - 70 for t in failed)  # none kept past the minute (+ a scan)
    assert healed.served_fraction > slow.served_fraction
    assert healed.cost_usd < slow.cost_usd  # failed VMs are not paid for 20 minutes each


SMALL = InstanceType("small", vcpus=1, memory_mib=2048)
SERVERLESS = serverless()


@dataclass
class Script:
    """One replica on serverless; from minute 1 a second one on a one-pod VM (the newest);
    back to one replica at minute 4."""

    period_s: float = 60.0

    def decide(self, view: ClusterView) -> list[Decision]:
        requests = view.workloads[0].spec.requests
        if view.time_s == 0 and not view.nodes:
            return [Launch(SERVERLESS, 1, requests)]
        if view.time_s == 60:
            return [ScaleTo("web", 2), Launch(offering(SMALL, price=0.05), 1)]
        return [ScaleTo("web", 1)] if view.time_s == 240 else []


def test_scale_in_deletes_the_serverless_pod_first_and_its_container_ends():
    spec = web(CapacityRules())
    twin_setup = replace(setup(spec, 6, CloudSettings()), offerings=(OD, SERVERLESS))
    twin = Twin(twin_setup, [Script()], np.random.default_rng(0))
    result = twin.run("scale-in")
    (left,) = twin.pods.values()
    assert left.name != "web-1"  # the older pod, on serverless, went
    assert twin.nodes[left.node].offering.instance_type is SMALL
    assert [n.offering.option for n in twin.nodes.values()] == [PurchaseOption.ON_DEMAND]
    assert result.evictions == 0
