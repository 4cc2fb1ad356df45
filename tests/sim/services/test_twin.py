from dataclasses import replace

import numpy as np
import pytest

from tests.factories import CPU4, offering, serverless
from tidewise.capacity import FixedCapacity, NodeAutoscaler
from tidewise.catalog import serverless_price_per_hour
from tidewise.model import (
    Billing,
    InstanceType,
    Launch,
    Offering,
    PurchaseOption,
    Resources,
    WorkloadSpec,
)
from tidewise.model.results import PURCHASE_OPTIONS
from tidewise.sim.services.cloud import CloudSettings, Shortage, SimCloud
from tidewise.sim.services.ledger import CostLedger
from tidewise.sim.services.replicas import FixedReplicas, HpaController
from tidewise.sim.services.twin import Twin, TwinSetup

WEB = WorkloadSpec(
    "web",
    Resources(cpu_milli=1000, memory_mib=2048),
    rps_per_replica=10,
    startup_s=20,
    min_replicas=1,
    max_replicas=50,
    target_utilization=0.5,
)
OD = offering(CPU4, price=0.36)
SERVERLESS = serverless()
SPOT = offering(CPU4, PurchaseOption.SPOT, price=0.18, interruptions_per_hour=0.5, notice_s=120)


def setup(demand, offerings=(OD,), shortages=()):
    demand = np.asarray([demand], dtype=float)
    return TwinSetup(
        horizon_s=demand.shape[1] * 60.0,
        start_unix_s=0.0,
        workloads=(WEB,),
        demand_rps=demand,
        offerings=tuple(offerings),
        cloud=CloudSettings(shortages=tuple(shortages)),
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: 0.36,
    )


def reactive():
    return [HpaController(), NodeAutoscaler(frozenset({PurchaseOption.ON_DEMAND}))]


def ramp():
    # 2 h at 20 rps, 2 h at 120 rps, 2 h at 20 rps
    return [20.0] * 120 + [120.0] * 120 + [20.0] * 120


def test_same_seed_same_result():
    a = Twin(setup(ramp()), reactive(), np.random.default_rng(7)).run("reactive")
    b = Twin(setup(ramp()), reactive(), np.random.default_rng(7)).run("reactive")
    assert a.model_dump_json() == b.model_dump_json()
    assert a.timeseries == b.timeseries


def test_fixed_fleet_costs_exactly_its_rate_and_serves_everything():
    result = Twin(
        setup([20.0] * 60),
        [FixedReplicas({"web": 4}), FixedCapacity(PurchaseOption.ON_DEMAND)],
        np.random.default_rng(0),
    ).run("fixed")
    assert result.node_launches == 1  # 4 pods of 1 vCPU fill one 4-vCPU node
    assert result.cost_usd == pytest.approx(0.36)
    assert result.cost_by_option_usd["on-demand"] == pytest.approx(0.36)
    assert result.served_fraction == 1.0 and result.violation_minutes == 0
    assert result.vcpu_hours == pytest.approx(4.0)


def test_reactive_follows_the_ramp_and_pays_less_than_fixed_for_the_peak():
    twin = Twin(setup(ramp()), reactive(), np.random.default_rng(1))
    result = twin.run("reactive")
    capacity = np.asarray(result.timeseries.capacity_rps["web"])
    assert capacity[100] < 100  # before the peak: few replicas
    assert capacity[200] >= 120  # during the peak: enough for the demand
    assert capacity[350] < 100  # after: scaled back in
    assert result.served_fraction > 0.98
    assert 0 < result.violation_minutes < 15  # the ramp costs a few minutes of boot time
    fixed = Twin(
        setup(ramp()),
        [FixedReplicas({"web": 24}), FixedCapacity(PurchaseOption.ON_DEMAND)],
        np.random.default_rng(1),
    ).run("fixed")
    assert result.cost_usd < fixed.cost_usd


def test_cost_series_sums_to_the_bills():
    twin = Twin(setup(ramp()), reactive(), np.random.default_rng(3))
    result = twin.run("reactive")
    bills = sum(c.usd + c.overrun_usd for c in twin.cloud.charges)
    series = sum(sum(result.timeseries.cost_usd[o]) for o in PURCHASE_OPTIONS)
    assert series == pytest.approx(bills, rel=1e-9)
    assert result.cost_usd == pytest.approx(bills, rel=1e-9)
    assert all(v >= -1e-12 for o in PURCHASE_OPTIONS for v in result.timeseries.cost_usd[o])


def test_spot_interruption_notice_then_node_gone_capacity_drops_cost_stops():
    seed = 11
    notice = np.random.default_rng(seed).exponential(3600 / SPOT.interruptions_per_hour)
    reclaim = notice + SPOT.notice_s
    minutes = int(reclaim // 60) + 30
    result = Twin(
        setup([20.0] * minutes, (SPOT,)),
        [FixedReplicas({"web": 4}), FixedCapacity(PurchaseOption.SPOT)],
        np.random.default_rng(seed),
    ).run("spot")
    assert result.interruptions == 1
    capacity = result.timeseries.capacity_rps["web"]
    gone = int(reclaim // 60) + 1
    assert capacity[gone - 2] == 40 and capacity[gone:] == [0.0] * (minutes - gone)
    spot_cost = result.timeseries.cost_usd["spot"]
    assert spot_cost[gone:] == [0.0] * (minutes - gone)
    assert result.cost_by_option_usd["spot"] == pytest.approx(0.18 * np.ceil(reclaim) / 3600)
    # the four pods went with the node and nothing brought them back: all four lost
    assert result.evictions == 4 and result.pods_lost == 4
    assert result.spot_share == 1.0


def test_evicted_pods_running_again_elsewhere_are_not_lost():
    seed = 11
    notice = np.random.default_rng(seed).exponential(3600 / SPOT.interruptions_per_hour)
    minutes = int((notice + SPOT.notice_s) // 60) + 30
    result = Twin(
        setup([20.0] * minutes, (SPOT, OD)),
        [FixedReplicas({"web": 4}), NodeAutoscaler(frozenset(PurchaseOption))],
        np.random.default_rng(seed),
    ).run("spot-then-anything")
    assert result.interruptions >= 1 and result.evictions >= 4
    assert result.pods_lost == 0  # the autoscaler bought a replacement and they run again
    assert 0 < result.spot_share <= 1


def test_notice_cordons_the_node_which_keeps_serving():
    seed = 11
    notice = np.random.default_rng(seed).exponential(3600 / SPOT.interruptions_per_hour)
    minutes = int(notice // 60) + 1  # ends after the notice, before the reclaim
    twin = Twin(
        setup([20.0] * minutes, (SPOT,)),
        [FixedReplicas({"web": 4}), FixedCapacity(PurchaseOption.SPOT)],
        np.random.default_rng(seed),
    )
    result = twin.run("spot")
    assert result.served_fraction == 1.0
    (node,) = twin.nodes.values()
    assert node.state.value == "cordoned" and node.notice_s == pytest.approx(notice)


def test_spot_shortage_fails_launches_and_the_policy_sees_it():
    shortage = Shortage(0.0, 3600.0)
    twin = Twin(
        setup([20.0] * 30, (SPOT,), [shortage]),
        [FixedReplicas({"web": 4}), FixedCapacity(PurchaseOption.SPOT)],
        np.random.default_rng(0),
    )
    result = twin.run("spot")
    assert result.launch_failures == 1 and result.node_launches == 0
    assert result.served_fraction == 0.0


class ServerlessForPending:
    """A test policy: one serverless container for every pending pod, once."""

    period_s = 10.0

    def __init__(self, serverless):
        self.serverless = serverless
        self.asked: set[str] = set()

    def decide(self, view):
        fresh = [p for p in view.pending_pods() if p.name not in self.asked]
        self.asked.update(p.name for p in fresh)
        return [Launch(self.serverless, 1, size=p.requests) for p in fresh]


def test_serverless_container_is_pod_sized_and_bills_per_vcpu_and_gib_second():
    serverless = SERVERLESS
    base = setup([10.0] * 60, (OD, serverless))
    twin_setup = replace(
        base,
        price_of=lambda o, size: (
            serverless_price_per_hour(o, size) if size is not None else o.price_per_hour
        ),
    )
    twin = Twin(
        twin_setup,
        [FixedReplicas({"web": 1}), ServerlessForPending(serverless)],
        np.random.default_rng(5),
    )
    twin.run("serverless")
    (node,) = twin.nodes.values()
    assert node.capacity == WEB.requests
    result_cost = twin.costs.totals()["serverless"]
    per_hour = (1 * 1e-5 + 2 * 1e-6) * 3600  # 1 vCPU, 2 GiB
    assert result_cost == pytest.approx(per_hour)  # one container for the whole hour


def test_serverless_boot_time_is_tens_of_seconds():
    serverless = SERVERLESS
    cloud = SimCloud(
        CloudSettings(),
        3600.0,
        np.random.default_rng(0),
        CostLedger(60),
        lambda o, size: 1.0,
        lambda o: 0.0,
    )
    boots = [cloud.launch(serverless, 0.0, WEB.requests).ready_s for _ in range(50)]
    vm_boots = [cloud.launch(OD, 0.0, None).ready_s for _ in range(50)]
    assert min(boots) >= 20 and max(boots) <= 40
    assert min(vm_boots) >= 60 and max(vm_boots) <= 120
    with pytest.raises(ValueError, match="size"):
        cloud.launch(serverless, 0.0, None)


def test_gpu_fragmentation_is_sampled_every_quarter_hour_with_gpu_pods():
    gpu = InstanceType(
        "gpu1", vcpus=8, memory_mib=32768, gpu_count=1, gpu_model="A10G", gpu_memory_mib=24576
    )
    infer = replace(
        WEB,
        name="infer",
        requests=Resources(cpu_milli=1000, memory_mib=2048, gpu_milli=400),
        rps_per_replica=1,
    )
    base = setup([1.0] * 60, (offering(gpu, price=1.0),))
    twin_setup = replace(base, workloads=(infer,), demand_rps=np.full((1, 60), 1.0))
    result = Twin(
        twin_setup,
        [FixedReplicas({"infer": 3}), FixedCapacity(PurchaseOption.ON_DEMAND)],
        np.random.default_rng(0),
    ).run("gpu")
    series = result.timeseries.gpu_fragment_pct
    assert len(series) == 4 and result.timeseries.gpu_fragment_step_s == 900
    # 3 pods of 0.4 GPU on two GPUs: FGD spreads the second (a 0.2 sliver would be useless),
    # the third then leaves 0.2 on one GPU whichever it takes: 200 of 2000 milli fragmented
    assert series == pytest.approx([10.0] * 4)


def test_no_gpu_no_fragmentation_series():
    result = Twin(setup([20.0] * 30), reactive(), np.random.default_rng(0)).run("cpu")
    assert result.timeseries.gpu_fragment_pct == []


def test_a_storm_multiplies_the_interruption_hazard_inside_its_window():
    from tidewise.sim.services.cloud import Storm

    def notices(storms, n=4000):
        cloud = SimCloud(
            CloudSettings(storms=storms),
            1e9,
            np.random.default_rng(5),
            CostLedger(1),
            lambda o, size: o.price_per_hour,
            lambda o: 0.0,
        )
        return np.array([cloud._draw_notice(SPOT, 0.0) for _ in range(n)])

    calm = notices(())
    storm = notices((Storm(3600.0, 7200.0, hazard_multiplier=10.0, capacity=1.0),))
    # 0.5 interruptions an hour: P(survive the first hour) = e^-0.5 either way...
    assert np.mean(calm < 3600) == pytest.approx(1 - np.exp(-0.5), abs=0.03)
    assert np.mean(storm < 3600) == pytest.approx(1 - np.exp(-0.5), abs=0.03)
    # ...then inside the storm 5 an hour: surviving it is e^-5 of those that entered it
    entered = storm >= 3600
    assert np.mean(storm[entered] >= 7200) == pytest.approx(np.exp(-5), abs=0.01)
    assert np.mean(calm[calm >= 3600] >= 7200) == pytest.approx(np.exp(-0.5), abs=0.03)


def test_a_storm_halves_spot_launches_and_spares_on_demand():
    from tidewise.sim.services.cloud import Storm

    cloud = SimCloud(
        CloudSettings(storms=(Storm(0.0, 100.0, capacity=0.5),)),
        1e6,
        np.random.default_rng(2),
        CostLedger(1),
        lambda o, size: o.price_per_hour,
        lambda o: 0.0,
    )
    spot = [cloud.launch(SPOT, 10.0, None) for _ in range(2000)]
    assert np.mean([i is None for i in spot]) == pytest.approx(0.5, abs=0.04)
    assert all(cloud.launch(OD, 10.0, None) is not None for _ in range(50))
    assert all(cloud.launch(SPOT, 150.0, None) is not None for _ in range(50))  # storm over


def test_interruption_handler_replaces_at_the_notice_and_drains_before_the_reclaim():
    from tidewise.capacity.interruptions import InterruptionHandler

    seed = 11
    notice = np.random.default_rng(seed).exponential(3600 / SPOT.interruptions_per_hour)
    minutes = int((notice + SPOT.notice_s) // 60) + 20
    spot_zone2 = Offering(
        CPU4,
        "z2",
        PurchaseOption.SPOT,
        0.19,
        billing=Billing(1.0, 60.0),
        interruptions_per_hour=0.0,
        notice_s=120,
    )
    options = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})

    def run(controllers):
        return Twin(
            setup([20.0] * minutes, (SPOT, spot_zone2, OD)),
            controllers,
            np.random.default_rng(seed),
        ).run("spot")

    plain = run([FixedReplicas({"web": 4}), NodeAutoscaler(options)])
    handled = run(
        [FixedReplicas({"web": 4}), NodeAutoscaler(options), InterruptionHandler(options)]
    )
    assert plain.interruptions == handled.interruptions == 1
    # without the handler the pods wait for a VM to boot after the reclaim, then start; with
    # it the replacement (another spot pool) boots within the notice and the pods only
    # restart there: the outage shrinks from boot + start-up to the 20 s start-up
    assert handled.served_fraction > plain.served_fraction
    lost_plain = 1 - plain.served_fraction
    lost_handled = 1 - handled.served_fraction
    assert lost_handled < lost_plain / 3
    assert handled.evictions == 4 and handled.pods_lost == 0
    assert handled.cost_by_option_usd["spot"] > 0 and handled.spot_share == 1.0


def test_vms_that_never_boot_are_replaced_and_billed_only_until_given_back():
    cloud = CloudSettings(boot_failure=1.0)  # every VM bought after the start hangs
    minutes = 40
    demand = [10.0] * 5 + [60.0] * (minutes - 5)  # needs more nodes from minute 5
    twin_setup = setup(demand)
    twin_setup = TwinSetup(**{**twin_setup.__dict__, "cloud": cloud})
    result = Twin(twin_setup, reactive(), np.random.default_rng(3)).run("stuck")
    # bought at about minute 5, given back 15 minutes later, bought again, given back again
    assert result.node_launches >= 3
    # the bootstrap node ran all along; each hung VM is billed for ~15 minutes, not forever
    hung = result.cost_usd - 0.36 * minutes / 60
    assert 0 < hung <= 0.36 * (result.node_launches - 1) * 16 / 60
    assert result.served_fraction < 1  # nothing new ever served: the demand went unmet
