"""The ``karpenter`` policy in the twin: the HPA plus Karpenter's defaults on spot and
on-demand (docs/karpenter-baseline.md)."""

from dataclasses import replace

import numpy as np

from tests.factories import CPU4, CPU8, offering, serverless
from tidewise.model import PurchaseOption, Resources, WorkloadSpec
from tidewise.model.results import RunResult
from tidewise.sim.services.cloud import CloudSettings
from tidewise.sim.services.policies import POLICIES
from tidewise.sim.services.twin import Twin, TwinSetup

OD4 = offering(CPU4, price=0.2)
OD8 = offering(CPU8, price=0.4)
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.06, notice_s=120)
SPOT8 = offering(CPU8, PurchaseOption.SPOT, price=0.12, notice_s=120)
WEB = WorkloadSpec("web", Resources(cpu_milli=1000, memory_mib=2048), 10, 20, 1, 100, 0.7)


def replay(demand: list[float], offerings=(OD4, OD8, SPOT4, SPOT8), seed: int = 1) -> RunResult:
    """The karpenter policy on one web service, a minute per demand value."""
    setup = TwinSetup(
        horizon_s=len(demand) * 60.0,
        start_unix_s=0.0,
        workloads=(WEB,),
        demand_rps=np.array([demand], dtype=float),
        offerings=(*offerings, serverless()),
        cloud=CloudSettings(),
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: {CPU4.name: 0.2, CPU8.name: 0.4}[o.instance_type.name],
    )
    twin = Twin(setup, POLICIES["karpenter"][1](setup), np.random.default_rng(seed))
    return twin.run("karpenter")


def test_karpenter_buys_spot_only_no_serverless_or_reservations_and_starts_warm():
    result = replay([300.0] * 30)
    assert result.cost_by_option_usd["spot"] > 0
    assert result.cost_by_option_usd["on-demand"] == 0
    assert result.cost_by_option_usd["reserved"] == result.cost_by_option_usd["serverless"] == 0
    assert result.spot_share == 1.0
    # warm: the first minute is served in full, and steady demand needs no launch after t=0
    assert result.timeseries is not None
    first = result.timeseries.capacity_rps["web"][0]
    assert first >= result.timeseries.demand_rps["web"][0]
    assert result.served_fraction == 1.0


def test_after_a_peak_consolidation_gives_the_nodes_back():
    """43 replicas for half an hour, then 5: the HPA scales in after its 5-minute window and
    Karpenter deletes what empties, so the last ten minutes cost a fraction of the peak's."""
    result = replay([300.0] * 30 + [30.0] * 30)
    assert result.timeseries is not None
    per_minute = np.sum([result.timeseries.cost_usd[o] for o in result.timeseries.cost_usd], 0)
    assert per_minute[50:].mean() < 0.3 * per_minute[10:30].mean()
    assert result.served_fraction > 0.99


def test_an_interrupted_node_is_drained_and_its_pods_run_again_elsewhere():
    """Spot pools interrupted about every 20 minutes: each notice drains the node (pods
    evicted), Karpenter buys for them again; nothing is lost by the end."""
    stormy = [replace(o, interruptions_per_hour=3.0) for o in (SPOT4, SPOT8)]
    result = replay([200.0] * 120, offerings=(OD4, OD8, *stormy), seed=7)
    assert result.interruptions >= 3
    assert result.evictions >= result.interruptions  # every noticed node had pods
    assert result.pods_lost == 0
    assert result.served_fraction > 0.9
