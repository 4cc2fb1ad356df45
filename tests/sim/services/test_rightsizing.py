import pytest

from tidewise.capacity.costshare import UnitPrices
from tidewise.model import Resources, WorkloadSpec
from tidewise.model.results import TimeSeries
from tidewise.sim.services.rightsizing import rightsize
from tidewise.sim.services.scenario import UsageSpec

WEB = WorkloadSpec("web", Resources(cpu_milli=1000, memory_mib=2048), 10.0, 20, 1, 10, 0.5)


def series(days, demand, capacity):
    steps = int(days * 1440)
    return TimeSeries(
        step_s=60.0,
        start_unix_s=0.0,
        demand_rps={"web": [demand] * steps},
        capacity_rps={"web": [capacity] * steps},
        cost_usd={},
    )


def test_half_busy_replicas_give_back_cpu_and_memory():
    # 4 replicas (40 rps of capacity) serve 20 rps: CPU 500 m of 1000 m; memory
    # (0.35 + 0.15 x 0.5) x 2048 = 870 MiB of 2048 MiB
    (line,) = rightsize([WEB], [UsageSpec()], series(8, 20.0, 40.0), UnitPrices(0.04, 0.005))
    assert line.mean_replicas == 4
    assert 500 * 1.15 <= line.cpu_target_milli <= 500 * 1.15 * 1.06  # P90 + 15 %, one bucket
    assert 870 * 1.15 <= line.memory_target_mib <= 870 * 1.15 * 1.06
    reclaim_vcpu = 4 * (1000 - line.cpu_target_milli) / 1000
    assert line.reclaimable_vcpu == pytest.approx(reclaim_vcpu, abs=1e-3)
    hourly = 0.04 * reclaim_vcpu + 0.005 * 4 * (2048 - line.memory_target_mib) / 1024
    assert line.reclaimable_usd_per_month == pytest.approx(730 * hourly, abs=0.01)


def test_nothing_to_reclaim_when_usage_reaches_the_request():
    busy = UsageSpec(memory_idle=1.0, memory_at_capacity=1.0)
    (line,) = rightsize([WEB], [busy], series(8, 40.0, 40.0), UnitPrices(0.04, 0.005))
    assert line.reclaimable_vcpu == 0 and line.reclaimable_gib == 0
    assert line.cpu_target_milli > 1000 and line.reclaimable_usd_per_month == 0


def test_without_prices_the_saving_is_unknown_not_zero():
    # a catalog of GPU types alone fits no vCPU or GiB price: the report says n/a, not $0.00
    (line,) = rightsize([WEB], [UsageSpec()], series(8, 20.0, 40.0), UnitPrices(0.0, 0.0))
    assert line.reclaimable_vcpu > 0 and line.reclaimable_usd_per_month is None
