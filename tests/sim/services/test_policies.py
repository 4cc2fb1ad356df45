"""The twin's named policies: which service level each workload gets under ``tidewise``."""

from dataclasses import replace

import numpy as np

from tests.factories import CPU4, GPU1, offering, serverless
from tidewise.model import Resources, WorkloadSpec
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.services.cloud import CloudSettings
from tidewise.sim.services.policies import service_levels
from tidewise.sim.services.twin import TwinSetup

WEB = WorkloadSpec("web", Resources(cpu_milli=1000, memory_mib=2048), 10.0, 20, 1, 50, 0.7)
GPU = WorkloadSpec(
    "inference", Resources(cpu_milli=1500, memory_mib=6144, gpu_milli=500), 1.0, 90, 1, 50, 0.7
)
VM = ServiceLevel(overload_risk=0.001)
BURST = ServiceLevel(overload_risk=0.01)


def setup(*offerings):
    return TwinSetup(
        horizon_s=60.0,
        start_unix_s=0.0,
        workloads=(WEB, GPU),
        demand_rps=np.ones((2, 1)),
        offerings=offerings,
        cloud=CloudSettings(),
        price_of=lambda o, size: o.price_per_hour,
        on_demand_price_of=lambda o: o.price_per_hour,
    )


def test_what_serverless_can_host_gets_the_burst_level_the_rest_the_vm_level():
    both = setup(offering(CPU4), offering(GPU1), serverless())
    assert service_levels(both, VM, BURST) == {"web": BURST, "inference": VM}


def test_without_serverless_or_its_part_every_workload_gets_the_vm_level():
    vms = setup(offering(CPU4), offering(GPU1))
    assert service_levels(vms, VM, BURST) == {"web": VM, "inference": VM}
    both = setup(offering(CPU4), offering(GPU1), serverless())
    assert service_levels(both, VM, None) == {"web": VM, "inference": VM}


def test_a_pod_larger_than_the_serverless_container_gets_the_vm_level():
    big = replace(WEB, requests=Resources(cpu_milli=1000, memory_mib=10**7))
    tiny = setup(offering(CPU4), serverless())
    tiny = replace(tiny, workloads=(big, GPU))
    assert service_levels(tiny, VM, BURST)["web"] == VM


def test_a_workload_s_own_overload_risk_wins_over_both_defaults():
    mine = setup(offering(CPU4), offering(GPU1), serverless())
    web = replace(WEB, overload_risk=0.05)
    gpu = replace(GPU, overload_risk=0.003)
    mine = replace(mine, workloads=(web, gpu))
    assert service_levels(mine, VM, BURST) == {
        "web": ServiceLevel(overload_risk=0.05),
        "inference": ServiceLevel(overload_risk=0.003),
    }
    assert service_levels(mine, VM, None)["web"] == ServiceLevel(overload_risk=0.05)
