from dataclasses import replace

from tests.capacity.views import WEB, running, view
from tests.factories import CPU4, GPU1, node, offering, serverless
from tidewise.capacity.serverless import ServerlessBurst
from tidewise.model import (
    GUARANTEED,
    Drain,
    InstanceType,
    Launch,
    NodeState,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)

SPOT_OD = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})
SERVERLESS = serverless(0.03 / 3600, 0.005 / 3600)  # 1 vCPU + 2 GiB: 0.03 + 2 * 0.005 USD/h
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)  # four web pods: 0.02 USD/h each
SHARE = Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=8192)


def pending(name: str, requests: Resources = WEB, pinned: bool = False) -> Pod:
    types = GUARANTEED if pinned else None
    return Pod(name, "web", requests, PodPhase.PENDING, 0.0, capacity_types=types)


def container(name: str, ready_s: float = 0.0):
    base = node(InstanceType("serverless", vcpus=1, memory_mib=2048), name)
    return replace(base, offering=SERVERLESS, ready_s=ready_s)


def test_pending_cpu_pods_burst_to_serverless_at_once_gpu_and_pinned_pods_do_not():
    burst = ServerlessBurst(SPOT_OD)
    pods = [pending("a"), pending("b"), pending("gpu", SHARE), pending("base", pinned=True)]
    decisions = burst.decide(view(0, [], pods, [SPOT4, SERVERLESS, offering(GPU1)]))
    assert decisions == [Launch(SERVERLESS, 1, WEB), Launch(SERVERLESS, 1, WEB)]


def test_pods_a_booting_node_will_take_do_not_burst():
    burst = ServerlessBurst(SPOT_OD)
    booting = node(CPU4, "vm", NodeState.LAUNCHING)
    assert burst.decide(view(0, [booting], [pending("a")], [SPOT4, SERVERLESS])) == []


def test_serverless_pods_move_back_when_a_vm_has_room_and_not_before():
    burst = ServerlessBurst(SPOT_OD)
    pods = [running("a", "c1"), running("b", "c2")]
    containers = [container("c1"), container("c2")]
    assert burst.decide(view(10, containers, pods, [SPOT4, SERVERLESS])) == []
    vm = node(CPU4, "vm")
    decisions = burst.decide(view(20, [*containers, vm], pods, [SPOT4, SERVERLESS]))
    assert decisions == [Drain("c1", "back to nodes"), Drain("c2", "back to nodes")]


def test_a_pod_past_the_break_even_gets_vm_capacity_bought_once():
    """s = 0.04, v = 0.02 USD/h: serverless wins for spikes under v * 330 / (s - v) = 330 s."""
    burst = ServerlessBurst(SPOT_OD, overhead_s=330.0)
    pods = [running("a", "c1")]
    assert burst.decide(view(300, [container("c1")], pods, [SPOT4, SERVERLESS])) == []
    assert burst.decide(view(331, [container("c1")], pods, [SPOT4, SERVERLESS])) == [
        Launch(SPOT4, 1)
    ]
    assert burst.decide(view(341, [container("c1")], pods, [SPOT4, SERVERLESS])) == []


def test_when_serverless_is_cheaper_than_any_vm_pods_stay_there():
    burst = ServerlessBurst(frozenset({PurchaseOption.ON_DEMAND}))
    dear = offering(CPU4, price=0.4)  # 0.1 USD/h per pod > 0.04
    pods = [running("a", "c1")]
    assert burst.decide(view(86400, [container("c1")], pods, [dear, SERVERLESS])) == []
