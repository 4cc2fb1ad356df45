from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import tidewise
from tests.factories import CPU4, CPU8, GPU1, offering
from tidewise.capacity.lower_bound import offline_lower_bound
from tidewise.catalog import serverless_price_per_hour
from tidewise.model import (
    CapacityRules,
    InstanceType,
    Offering,
    PurchaseOption,
    Resources,
    WorkloadSpec,
)
from tidewise.sim.services.runner import prepare, run
from tidewise.sim.services.scenario import load_scenario

HOUR = 3600.0
C8 = InstanceType("c8", vcpus=8, memory_mib=8192)  # CPU-rich, memory-poor
SERVERLESS = InstanceType("eci", vcpus=64, memory_mib=262144)


def _spec(name: str, requests: Resources, rps: float = 30.0) -> WorkloadSpec:
    return WorkloadSpec(name, requests, rps, 0.0, 0, 1000, 0.7)


WEB = _spec("web", Resources(cpu_milli=1000, memory_mib=2048))
INFER = _spec(
    "infer",
    Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=10240),
    rps=1.0,
)


def _price_of(o: Offering, size: Resources | None) -> float:
    if o.option is PurchaseOption.SERVERLESS:
        assert size is not None
        return serverless_price_per_hour(o, size)
    return o.price_per_hour


def _bound(workloads, demand, offerings, step_s=HOUR, block=1) -> float:
    rows = np.array(demand, dtype=float).reshape(len(workloads), -1)
    return offline_lower_bound(workloads, rows, step_s, offerings, _price_of, block)


def test_the_cheapest_fractional_mix_beats_either_type_alone():
    # 2 replicas: 2000 m CPU, 4096 MiB. cpu4 alone: 0.5 node = $0.10; c8 alone: 0.5 node
    # (memory-bound) = $0.15; both dimensions tight at 1/6 node of each: $0.2/6 + $0.3/6.
    offers = [offering(CPU4, price=0.2), offering(C8, price=0.3)]
    assert _bound([WEB], [60.0], offers) == pytest.approx(0.5 / 6)


def test_cost_integrates_price_per_hour_over_the_steps():
    # two half-hour steps of 2 then 4 replicas on cpu4 at $0.2/h (4 per node): 0.5 and 1 node
    offers = [offering(CPU4, price=0.2)]
    assert _bound([WEB], [60.0, 120.0], offers, step_s=1800) == pytest.approx(0.2 * 0.75)


def test_spot_counts_even_when_a_policy_would_only_buy_on_demand():
    offers = [offering(CPU4, price=0.2), offering(CPU4, PurchaseOption.SPOT, price=0.08)]
    assert _bound([WEB], [60.0], offers) == pytest.approx(0.5 * 0.08)


def test_serverless_is_priced_per_rounded_up_replica():
    eci = offering(
        SERVERLESS, PurchaseOption.SERVERLESS, price=0.0, vcpu_second_usd=1e-5, gib_second_usd=0.0
    )
    offers = [offering(CPU4, price=0.2), eci]  # $0.036 per replica-hour against $0.05 on cpu4
    assert _bound([WEB], [60.0], offers) == pytest.approx(2 * 0.036)


def test_gpu_pods_only_on_gpu_nodes_and_cpu_pods_never_there():
    # 4 GPU replicas: 2000 GPU milli -> 2 gpu1 at $1; their spare 4 vCPU / 16 GiB could hold 4
    # web replicas, but the GPU taint keeps the 8 web replicas on one cpu8 at $0.4.
    offers = [offering(CPU8, price=0.4), offering(GPU1, price=1.0)]
    assert _bound([WEB, INFER], [240.0, 4.0], offers) == pytest.approx(2.4)
    with pytest.raises(ValueError, match="infer"):
        _bound([WEB, INFER], [240.0, 4.0], [offering(CPU8, price=0.01)])


def test_gpu_model_restriction_excludes_other_models():
    l4 = InstanceType("l4", 4, 16384, gpu_count=1, gpu_model="L4", gpu_memory_mib=24576)
    picky = _spec("picky", Resources(cpu_milli=1000, gpu_count=1, gpu_model="A10G"), rps=1.0)
    offers = [offering(GPU1, price=1.0), offering(l4, price=0.1)]
    assert _bound([picky], [1.0], offers) == pytest.approx(1.0)
    # alternatives: any listed model will do (a string match took "A10G|L4" for a model)
    either = replace(picky, requests=replace(picky.requests, gpu_model="A10G|L4"))
    assert _bound([either], [1.0], offers) == pytest.approx(0.1)


def _reserved(term_s: float) -> Offering:
    return offering(CPU4, PurchaseOption.RESERVED, price=0.12, term_s=term_s)


def test_a_commitment_is_owed_to_the_horizon_once_bought():
    offers = [offering(CPU4, price=0.2), _reserved(365 * 86400.0)]
    # bought at the second hour: owed for that hour only, 0.5 node x $0.12
    assert _bound([WEB], [0.0, 60.0], offers) == pytest.approx(0.06)
    # bought at the first hour it is owed for both (0.12) -> on-demand for one hour is cheaper
    assert _bound([WEB], [60.0, 0.0], offers) == pytest.approx(0.10)


def test_a_term_shorter_than_the_horizon_is_relaxed_to_the_rate_per_used_hour():
    offers = [offering(CPU4, price=0.2), _reserved(1800.0)]
    assert _bound([WEB], [60.0, 0.0], offers) == pytest.approx(0.06)


def test_averaging_blocks_of_steps_never_raises_the_bound():
    rng = np.random.default_rng(3)
    demand = rng.uniform(0, 300, size=(2, 120)) * np.array([[1.0], [0.02]])
    offers = [
        offering(CPU4, price=0.2),
        offering(C8, PurchaseOption.SPOT, price=0.15),
        offering(GPU1, price=1.0),
        _reserved(365 * 86400.0),
    ]
    exact = _bound([WEB, INFER], demand, offers, step_s=60.0)
    assert exact > 0
    for block in (7, 60):
        assert _bound([WEB, INFER], demand, offers, step_s=60.0, block=block) <= exact + 1e-9


@pytest.fixture(scope="module")
def default_report():
    path = Path(tidewise.__file__).parent / "scenarios" / "nasa-week.yaml"
    scenario, base = load_scenario(path)
    return run(prepare(scenario.model_copy(update={"horizon": 6 * HOUR}), base))


def test_the_default_scenario_bound_is_below_every_policy(default_report):
    assert default_report.lower_bound_usd > 0
    assert [r.policy for r in default_report.runs] == [
        "fixed-on-demand",
        "fixed-reserved",
        "reactive",
        "karpenter",
        "elastic",
        "tidewise",
    ]
    for result in default_report.runs:
        assert default_report.lower_bound_usd <= result.cost_usd, result.policy
    # buying a start-up ahead costs more than the instant oracle, and less than the fixed
    # fleets, which serve everything
    startup = default_report.startup_lower_bound_usd
    assert startup is not None and startup > default_report.lower_bound_usd
    for result in default_report.runs[:2]:
        assert result.served_fraction == 1.0 and startup <= result.cost_usd


def test_an_on_demand_base_is_covered_by_on_demand_capacity_alone():
    """8 replicas (8 vCPU), spot 0.1 and on-demand 0.4 per CPU4: all spot costs 0.2 an hour.
    A base of 25 % (2 replicas, half a CPU4) must be on-demand: 0.5 * 0.4 + 1.5 * 0.1 = 0.35;
    a base of 6 replicas: 1.5 * 0.4 + 0.5 * 0.1 = 0.65."""
    spot = offering(CPU4, PurchaseOption.SPOT, price=0.1)
    od = offering(CPU4, price=0.4)
    demand = [8 * 30.0]
    assert _bound([WEB], demand, [spot, od]) == pytest.approx(0.2)
    share = replace(WEB, rules=CapacityRules(on_demand_base_pct=0.25))
    assert _bound([share], demand, [spot, od]) == pytest.approx(0.35)
    count = replace(WEB, rules=CapacityRules(on_demand_base=6))
    assert _bound([count], demand, [spot, od]) == pytest.approx(0.65)
    # a base larger than the replicas pins them all, no more
    assert _bound([replace(WEB, rules=CapacityRules(on_demand_base=20))], demand, [spot, od]) == (
        pytest.approx(0.8)
    )


def _ahead(demand, lead_s, step_s=60.0) -> float:
    rows = np.array(demand, dtype=float).reshape(1, -1)
    offers = [offering(CPU4, price=0.2)]  # 4 web replicas per node: $0.05 per replica-hour
    return offline_lower_bound([WEB], rows, step_s, offers, _price_of, lead_s=lead_s)


def test_buying_a_start_up_ahead_pays_for_the_window_before_a_spike():
    """One minute of 4 replicas (120 rps) between quiet minutes: with a 90 s lead, the minute
    before pays for the spike in full (its window reaches it from any point), the one before
    that for the last half of it (30 s of its 60 s reach the spike); nothing after."""
    replica_minute = 0.05 / 60
    spike = [0.0, 0.0, 0.0, 120.0, 0.0, 0.0]
    assert _ahead(spike, None) == pytest.approx(4 * replica_minute)
    assert _ahead(spike, [0.0]) == pytest.approx(4 * replica_minute)
    assert _ahead(spike, [90.0]) == pytest.approx((1 + 1 + 0.5) * 4 * replica_minute)
    # a lead under a step still raises the bound by its share of the next step
    assert _ahead(spike, [30.0]) == pytest.approx((1 + 0.5) * 4 * replica_minute)


def test_the_start_up_bound_is_never_below_the_instant_one_and_grows_with_the_lead():
    demand = np.random.default_rng(3).uniform(0, 300, 240)
    instant = _ahead(demand, None)
    previous = instant
    for lead in (20.0, 60.0, 150.0, 600.0):
        bound = _ahead(demand, [lead])
        assert bound >= previous - 1e-9
        previous = bound
    assert previous > instant


def test_a_lead_needs_one_value_per_workload_and_unblocked_steps():
    with pytest.raises(ValueError, match="one lead per workload"):
        _ahead([1.0, 2.0], [10.0, 20.0])
    rows = np.ones((1, 4))
    with pytest.raises(ValueError, match="block=1"):
        offline_lower_bound([WEB], rows, 60.0, [offering(CPU4)], _price_of, 2, [10.0])
