"""Serverless bursts: pods that would wait for a VM to boot run on serverless containers.

A VM takes one to two minutes to boot, a serverless container (ECI, Fargate) 20-40 s, and a
spike is served only by what is up. So a pending pod that serverless can host (no GPU, not
pinned to other purchase options) goes there at once, unless a booting node already has room
for it. Serverless is dearer per pod-hour than a well-packed spot VM, but a VM bought for a
spike is paid for its boot and for the time it lingers after the spike too. Over a spike of
``D`` seconds serverless is cheaper while ``s * D < v * (D + overhead_s)`` (``s``, ``v`` the
serverless and best VM price per pod-hour), that is for ``D < v * overhead_s / (s - v)``, and
always when ``s <= v``. A pod still on serverless past that break-even is not in a short
spike: VM capacity is bought for it. Whenever Ready VMs have room, serverless pods move back
(drain, within the disruption budgets).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from tidewise.capacity.disruption import DisruptionBudget
from tidewise.capacity.provisioning import (
    PlanMemo,
    absorb_into_launching,
    cheapest_offering,
    first_fit,
)
from tidewise.catalog import serverless_price_per_hour
from tidewise.model import (
    ClusterView,
    Decision,
    Drain,
    Launch,
    Node,
    NodeState,
    Offering,
    Pod,
    PurchaseOption,
    Resources,
    rests_until,
)

BREAK_EVEN_OVERHEAD_S = 180.0
"""What a VM bought for a spike costs beyond the spike: boot (~90 s), billing minimum (60 s),
the unneeded wait before it goes (30 s, the twin's ``TIDEWISE_NODES``; 330 s while that wait
was 180 s: measured alike on the default week, bench/RESULTS.md, issue 21 final)."""


@dataclass
class ServerlessBurst:
    """Runs before the node autoscaler each period, so it sees new pending pods first."""

    vm_options: frozenset[PurchaseOption]
    overhead_s: float = BREAK_EVEN_OVERHEAD_S
    period_s: float = 10.0
    _settling: set[str] = field(default_factory=set, init=False)  # VM capacity bought
    _break_even: dict[Hashable, float] = field(default_factory=dict, init=False)
    _plans: PlanMemo = field(default_factory=PlanMemo, init=False)
    _wakes_s: float = field(default=math.inf, init=False)  # see rests

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        self._wakes_s = math.inf
        on_serverless = [
            n
            for n in view.nodes
            if n.offering.option is PurchaseOption.SERVERLESS and n.state is NodeState.READY
        ]
        self._settling &= {n.name for n in on_serverless}
        if not on_serverless and not view.pending_pods():
            return []
        serverless = [
            o
            for o in view.offerings
            if o.option is PurchaseOption.SERVERLESS and o.key not in view.unavailable_offerings
        ]
        vms = [o for o in view.offerings if o.option in self.vm_options]
        decisions: list[Decision] = []
        if on_serverless:
            budget = DisruptionBudget.of(view)
            decisions += self._move_back(view, on_serverless, budget)
            if serverless:
                decisions += self._settle(view, on_serverless, serverless[0], vms, budget)
        if serverless:
            decisions += self._burst(view, serverless[0])
        return decisions

    def rests(self, now_s: float) -> bool:
        """On an unchanged cluster the answer changes only when a pod on serverless passes
        its break-even."""
        return rests_until(now_s, self._wakes_s)

    def _burst(self, view: ClusterView, offering: Offering) -> list[Decision]:
        fitting = [p for p in view.pending_pods() if hostable(p, offering)]
        return [
            Launch(offering=offering, count=1, size=pod.requests)
            for pod in absorb_into_launching(fitting, view.nodes)
        ]

    def _move_back(
        self, view: ClusterView, on_serverless: list[Node], budget: DisruptionBudget
    ) -> list[Decision]:
        room = [
            n
            for n in view.nodes
            if n.schedulable and n.offering.option is not PurchaseOption.SERVERLESS
        ]
        moving: list[Pod] = []
        decisions: list[Decision] = []
        for node in on_serverless:
            pods = budget.pods_on(node)
            if pods and not first_fit(moving + pods, room) and budget.take(node):
                moving += pods
                decisions.append(Drain(node=node.name, reason="back to nodes"))
        return decisions

    def _settle(
        self,
        view: ClusterView,
        on_serverless: list[Node],
        offering: Offering,
        vms: list[Offering],
        budget: DisruptionBudget,
    ) -> list[Decision]:
        due: list[Pod] = []
        for node in on_serverless:
            if node.name in self._settling:
                continue
            pods = budget.pods_on(node)
            if not pods:
                continue
            since = node.ready_s or node.launched_s
            wait = self._break_even_s(pods[0], offering, vms, view.unavailable_offerings)
            if view.time_s - since >= wait:
                self._settling.add(node.name)
                due += pods
            else:
                self._wakes_s = min(self._wakes_s, since + wait)
        if not due:
            return []
        return list(self._plans.plan(due, vms, view.unavailable_offerings))

    def _break_even_s(
        self, pod: Pod, offering: Offering, vms: list[Offering], unavailable: frozenset[str]
    ) -> float:
        key = (pod.requests, offering.key, unavailable)
        if key not in self._break_even:
            self._break_even[key] = break_even_s(
                pod.requests, offering, vms, self.overhead_s, unavailable
            )
        return self._break_even[key]


def break_even_s(
    requests: Resources,
    offering: Offering,
    vms: Sequence[Offering],
    overhead_s: float,
    unavailable: frozenset[str] = frozenset(),
) -> float:
    """How long a pod of ``requests`` may stay on the serverless ``offering`` before a VM
    bought for it (paid ``overhead_s`` beyond the spike) is cheaper: ``v * overhead_s / (s -
    v)``, ``s`` and ``v`` the serverless and cheapest VM prices per pod-hour; never (infinite)
    while serverless is no dearer or no VM can host the pod."""
    choice = cheapest_offering(requests, vms, unavailable)
    s = serverless_price_per_hour(offering, requests)
    v = float("inf") if choice is None else choice.price_per_pod
    return v * overhead_s / (s - v) if s > v else float("inf")


def hosts(offering: Offering, requests: Resources) -> bool:
    """Whether a serverless offering can run a container with these requests (no GPU)."""
    limit = offering.instance_type.capacity
    return (
        not requests.wants_gpu
        and requests.cpu_milli <= limit.cpu_milli
        and requests.memory_mib <= limit.memory_mib
    )


def hostable(pod: Pod, offering: Offering) -> bool:
    """Whether a serverless container of ``offering`` can run ``pod``: it :func:`hosts` its
    requests, and the pod is not pinned to other purchase options."""
    return hosts(offering, pod.requests) and (
        pod.capacity_types is None or PurchaseOption.SERVERLESS in pod.capacity_types
    )
