"""Which pending pods go to the virtual node and which one comes back first: hand-computed
prices (serverless 0.04 USD/h for a web pod, a spot VM 0.02 USD/h a pod: break-even
0.02 * 330 / (0.04 - 0.02) = 330 s)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.capacity.views import WEB
from tests.factories import CPU4, offering, serverless
from tidewise.capacity.serverless import break_even_s
from tidewise.capacity.virtual_node import (
    BurstRules,
    MoveBack,
    OnVirtual,
    Waiting,
    move_back,
    to_burst,
)
from tidewise.model import Pod, PodPhase, PurchaseOption, Resources

SERVERLESS = serverless(0.03 / 3600, 0.005 / 3600)  # 1 vCPU + 2 GiB: 0.04 USD/h
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)  # four web pods: 0.02 USD/h each
RULES = BurstRules(bound_s=30.0, overhead_s=330.0)
SHARE = Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=8192)
ROOM = Resources(cpu_milli=1000, memory_mib=2048)


def pod(name: str, workload: str = "web", requests: Resources = WEB) -> Pod:
    return Pod(name, workload, requests, PodPhase.PENDING, 0.0)


def test_the_break_even_is_the_twins_rule():
    assert break_even_s(WEB, SERVERLESS, [SPOT4], 330.0) == pytest.approx(330.0)
    cheap = serverless(0.01 / 3600, 0.001 / 3600)  # 0.012 USD/h: below the VM's 0.02
    assert break_even_s(WEB, cheap, [SPOT4], 330.0) == float("inf")
    assert break_even_s(WEB, SERVERLESS, [], 330.0) == float("inf")  # no VM can host it


def test_pods_burst_once_past_the_bound_if_opted_in_and_hostable():
    waiting = [
        Waiting(pod("early"), 29.9, True),
        Waiting(pod("due"), 30.0, True),
        Waiting(pod("silent"), 100.0, None),
        Waiting(pod("gpu", requests=SHARE), 100.0, True),
    ]
    assert [p.name for p in to_burst(waiting, SERVERLESS, RULES)] == ["due"]


def test_the_configuration_opts_every_workload_in_but_one_that_opted_out():
    everyone = BurstRules(bound_s=30.0, everyone=True)
    waiting = [Waiting(pod("silent"), 31.0, None), Waiting(pod("out"), 31.0, False)]
    assert [p.name for p in to_burst(waiting, SERVERLESS, everyone)] == ["silent"]


def test_a_pod_moves_back_at_once_when_a_vm_it_may_run_on_has_room():
    entry = OnVirtual(pod("a"), 10.0, vms=("vm-1", "vm-2"))
    room = {"vm-1": Resources(cpu_milli=500, memory_mib=4096), "vm-2": ROOM, "other": ROOM}
    decision = move_back([entry], room, frozenset(), {}, SERVERLESS, [SPOT4], RULES)
    assert decision == MoveBack(entry.pod, "vm-2", pytest.approx(330.0))
    elsewhere = OnVirtual(pod("b"), 10.0, vms=("vm-1",))  # "other" has room, not for it
    assert move_back([elsewhere], room, frozenset(), {}, SERVERLESS, [SPOT4], RULES) is None


def test_without_room_a_pod_moves_back_once_past_the_break_even():
    def decide(ran_s: float) -> MoveBack | None:
        entry = OnVirtual(pod("a"), ran_s)
        return move_back([entry], {}, frozenset(), {}, SERVERLESS, [SPOT4], RULES)

    assert decide(329.0) is None
    moved = decide(330.5)
    assert moved is not None and moved.node is None
    cheap = serverless(0.01 / 3600, 0.001 / 3600)  # serverless cheaper: it stays
    entry = OnVirtual(pod("a"), 1e6)
    assert move_back([entry], {}, frozenset(), {}, cheap, [SPOT4], RULES) is None


def test_one_pod_at_a_time_longest_first_never_while_its_workload_is_in_flight():
    first, second = OnVirtual(pod("a"), 500.0), OnVirtual(pod("b"), 900.0)
    other = OnVirtual(pod("c", workload="api"), 400.0)
    entries = [first, second, other]
    decision = move_back(entries, {}, frozenset(), {}, SERVERLESS, [SPOT4], RULES)
    assert decision is not None and decision.pod.name == "b"
    decision = move_back(entries, {}, frozenset({"web"}), {}, SERVERLESS, [SPOT4], RULES)
    assert decision is not None and decision.pod.name == "c"
    assert move_back(entries, {}, frozenset({"web", "api"}), {}, SERVERLESS, [SPOT4], RULES) is None


def test_never_past_a_disruption_budget():
    held = OnVirtual(pod("a"), 900.0, budgets=("ns/web",))
    free = OnVirtual(pod("c", workload="api"), 400.0, budgets=("ns/api",))
    allowed = {"ns/web": 0, "ns/api": 1}
    decision = move_back([held, free], {}, frozenset(), allowed, SERVERLESS, [SPOT4], RULES)
    assert decision is not None and decision.pod.name == "c"
    unknown = OnVirtual(pod("d"), 900.0, budgets=("ns/gone",))  # no allowance read: 0
    assert move_back([unknown], {}, frozenset(), {}, SERVERLESS, [SPOT4], RULES) is None


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="bound_s"):
        BurstRules(bound_s=-1.0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web", "api", "batch"]),
            st.floats(0, 2000),
            st.sampled_from(["budget-a", "budget-b", None]),
            st.booleans(),
        ),
        max_size=8,
    ),
    st.frozensets(st.sampled_from(["web", "api", "batch"])),
    st.integers(0, 1),
    st.integers(0, 1),
)
def test_a_move_is_never_of_a_workload_in_flight_nor_past_a_budget(
    pods, in_flight, allowed_a, allowed_b
):
    allowed = {"budget-a": allowed_a, "budget-b": allowed_b}
    entries = [
        OnVirtual(
            pod(f"p{i}", workload),
            ran_s,
            budgets=(budget,) if budget else (),
            vms=("vm",) if room else (),
        )
        for i, (workload, ran_s, budget, room) in enumerate(pods)
    ]
    decision = move_back(entries, {"vm": ROOM}, in_flight, allowed, SERVERLESS, [SPOT4], RULES)
    even = break_even_s(WEB, SERVERLESS, [SPOT4], RULES.overhead_s)
    eligible = [
        e
        for e in entries
        if e.pod.workload not in in_flight
        and all(allowed[b] > 0 for b in e.budgets)
        and (e.vms or e.ran_s >= even)
    ]
    if decision is None:
        assert not eligible
        return
    chosen = next(e for e in entries if e.pod == decision.pod)
    assert chosen.pod.workload not in in_flight
    assert all(allowed[b] > 0 for b in chosen.budgets)
    assert chosen.ran_s == max(e.ran_s for e in eligible)
