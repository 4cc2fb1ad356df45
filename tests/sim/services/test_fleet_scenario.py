"""The fleet-scale example scenario loads and is what it says: 50 services, 30 days, CPU
and GPU tiers every pool can host (issue 22)."""

from pathlib import Path

from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import load_scenario

FLEET = Path(__file__).resolve().parents[3] / "examples" / "fleet-50.yaml"


def test_fleet_50_is_fifty_services_over_thirty_days_on_cpu_and_gpu_tiers():
    prepared = prepare(*load_scenario(FLEET))
    setup = prepared.setup
    assert len(setup.workloads) == 50
    assert setup.horizon_s == 30 * 86400
    gpu = [w for w in setup.workloads if w.requests.wants_gpu]
    assert 0 < len(gpu) < 50
    assert setup.demand_rps.shape == (50, 30 * 1440)
    assert (setup.demand_rps.max(axis=1) > 0).all()
