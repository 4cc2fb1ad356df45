"""The named policies a scenario can compare: each a set of controllers for one run."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidewise.capacity import FixedCapacity, NodeAutoscaler, NodeAutoscalerSettings
from tidewise.capacity.consolidation import Consolidator
from tidewise.capacity.interruptions import InterruptionHandler
from tidewise.capacity.karpenter.controller import Karpenter
from tidewise.capacity.reserved_base import ReservedBase
from tidewise.capacity.serverless import BREAK_EVEN_OVERHEAD_S, ServerlessBurst, hosts
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import ClusterView, Controller, Decision, PurchaseOption, WorkloadSpec
from tidewise.scaling.behavior import HpaBehavior
from tidewise.scaling.elastic import TIDEWISE_BEHAVIOR
from tidewise.scaling.forecast import forecaster_named
from tidewise.scaling.predictive import TIDEWISE_REFIT_S
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.services.replicas import ElasticController, FixedReplicas, HpaController
from tidewise.sim.services.twin import TwinSetup

ELASTIC_FORECASTER = "recent-level"
TIDEWISE_NODES = NodeAutoscalerSettings(
    unneeded_s=30.0, delay_after_add_s=180.0, max_not_ready_s=60.0
)
"""A node goes after 30 s unneeded, near Karpenter's pace (it takes an empty node 15-25 s
after it empties, docs/karpenter-baseline.md); on a cluster this is the rendered NodePool's
``consolidateAfter: 30s`` (with cluster-autoscaler, ``--scale-down-unneeded-time=30s``). The
pause of 3 minutes after a scale-up stays (cluster-autoscaler's
``--scale-down-delay-after-add=3m``; Karpenter has none): without it (or at 60 s) the spot
storm's on-demand spend rose from $29 to $156-176. Measured on the default week and the
spot storm against the earlier 3 minutes unneeded (itself 5 % cheaper than
cluster-autoscaler's 10 + 10): bench/RESULTS.md, issue 21. A node that fails is given back
after a minute, not cluster-autoscaler's 20: its pods are not serving meanwhile."""


def peak_replicas(setup: TwinSetup) -> dict[str, int]:
    """Replicas that serve each workload's observed peak at its target utilisation."""
    sizes = {}
    for i, spec in enumerate(setup.workloads):
        peak = float(setup.demand_rps[i].max())
        need = math.ceil(peak / (spec.rps_per_replica * spec.target_utilization) - 1e-9)
        sizes[spec.name] = min(max(need, spec.min_replicas), spec.max_replicas)
    return sizes


def _fixed(option: PurchaseOption) -> Callable[[TwinSetup], list[Controller]]:
    def build(setup: TwinSetup) -> list[Controller]:
        return [FixedReplicas(peak_replicas(setup)), FixedCapacity(option)]

    return build


def _reactive(setup: TwinSetup) -> list[Controller]:
    return [HpaController(), NodeAutoscaler(frozenset({PurchaseOption.ON_DEMAND}))]


VM_LEVEL = ServiceLevel(overload_risk=0.003)
"""The service level of a workload only VMs can host (a GPU server): tuned on the twin
(bench/RESULTS.md, issue 21; 0.1 % while the level was refit every 15 minutes)."""
BURST_LEVEL = ServiceLevel(overload_risk=0.0002)
"""The level of a workload serverless can host: its VMs are sized for the forecast's likely
range, and what outgrows them bursts onto serverless within its start-up (tuned likewise)."""


def service_levels(
    setup: TwinSetup, vm: ServiceLevel, burst: ServiceLevel | None
) -> dict[str, ServiceLevel]:
    """Each workload's level: its own ``overload_risk`` where the scenario gives one, else
    ``burst`` where serverless can host its pods, else ``vm``."""
    serverless = [o for o in setup.offerings if o.option is PurchaseOption.SERVERLESS]

    def level(spec: WorkloadSpec) -> ServiceLevel:
        if spec.overload_risk is not None:
            return ServiceLevel(overload_risk=spec.overload_risk)
        return burst if burst and any(hosts(o, spec.requests) for o in serverless) else vm

    return {spec.name: level(spec) for spec in setup.workloads}


def tidewise_controllers(
    setup: TwinSetup,
    serverless: bool = True,
    spot_pools: bool = True,
    consolidation: bool = True,
    reserved_floor: bool = True,
    slo: bool = True,
    vm_level: ServiceLevel = VM_LEVEL,
    burst_level: ServiceLevel = BURST_LEVEL,
    break_even_overhead_s: float = BREAK_EVEN_OVERHEAD_S,
    nodes: NodeAutoscalerSettings = TIDEWISE_NODES,
    behavior: HpaBehavior = TIDEWISE_BEHAVIOR,
    refit_s: float = TIDEWISE_REFIT_S,
) -> list[Controller]:
    """Replicas sized to each workload's service level (``slo``; else those of ``elastic``)
    on the whole capacity stack (docs/capacity.md); the flags take parts out, for the
    ablation in ``bench/tidewise_parts.py``; the levels, the break-even, the node settings, the
    scale-down window and the forecast's refit period are its sweep (``--sweep`` there).

    Pending pods that serverless can host burst there first (listed before the node
    autoscaler, so it sees them first); the node autoscaler buys the cheapest offering, spot
    spread over pools and weighted by band, on-demand for the workloads' bases and when spot
    launches fail; the interruption handler moves pods off a noticed node; consolidation swaps
    dear nodes (on-demand bought in a shortage) for cheaper ones."""
    epoch = datetime.fromtimestamp(setup.start_unix_s, tz=UTC)
    forecast = forecaster_named(ELASTIC_FORECASTER).forecast
    options = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})
    pools = SpotPoolRules() if spot_pools else None
    levels = service_levels(setup, vm_level, burst_level if serverless else None) if slo else {}
    return [
        ElasticController(epoch, forecast, levels=levels, behavior=behavior, refit_s=refit_s),
        *([ReservedBase()] if reserved_floor else []),
        *([ServerlessBurst(options, break_even_overhead_s)] if serverless else []),
        NodeAutoscaler(options, nodes, spot_pools=pools),
        InterruptionHandler(options),
        *([Consolidator(options)] if consolidation else []),
    ]


@dataclass
class WarmStartedKarpenter:
    """Karpenter in the twin. The twin starts warm: at t = 0 it asks the policies for what
    they want, with time standing still, so a batch window could never close; there the
    pending pods are provisioned for at once, as the window closing a second later would."""

    karpenter: Karpenter

    @property
    def period_s(self) -> float | None:
        return self.karpenter.period_s

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        return self.karpenter.step(view, batch=view.time_s > 0)

    def rests(self, now_s: float) -> bool:
        return self.karpenter.rests(now_s)


def _karpenter(setup: TwinSetup) -> list[Controller]:
    """The HPA (exact, as in ``reactive``) with Karpenter's defaults on a NodePool of every
    instance type of the scenario's pools, spot and on-demand (docs/karpenter-baseline.md)."""
    return [HpaController(), WarmStartedKarpenter(Karpenter())]


def _elastic(setup: TwinSetup) -> list[Controller]:
    epoch = datetime.fromtimestamp(setup.start_unix_s, tz=UTC)
    forecast = forecaster_named(ELASTIC_FORECASTER).forecast
    return [
        ElasticController(epoch, forecast),
        NodeAutoscaler(frozenset({PurchaseOption.ON_DEMAND})),
    ]


POLICIES: dict[str, tuple[str, Callable[..., list[Controller]]]] = {
    "fixed-on-demand": (
        "static on-demand nodes and replicas sized for the observed peak",
        _fixed(PurchaseOption.ON_DEMAND),
    ),
    "fixed-reserved": (
        "the same static fleet bought as reserved instances / savings plan",
        _fixed(PurchaseOption.RESERVED),
    ),
    "reactive": (
        "Kubernetes' HPA plus a cluster-autoscaler on on-demand nodes",
        _reactive,
    ),
    "karpenter": (
        "Kubernetes' HPA plus Karpenter's defaults: spot and on-demand, consolidation, "
        "interruption handling",
        _karpenter,
    ),
    "elastic": (
        "tidewise's replica policy (HPA + forecast) plus reactive's node autoscaler",
        _elastic,
    ),
    "tidewise": (
        "replicas sized to a service level on spot spread over pools, serverless bursts, "
        "interruption handling, consolidation",
        tidewise_controllers,
    ),
    "no-colocation": (
        "the scenario's batch jobs on their own on-demand nodes, bought for pending batch "
        "pods and given back when empty; online as batch.online (default tidewise)",
        tidewise_controllers,
    ),
    "colocation": (
        "batch jobs on what online nodes leave idle first, evicted when online usage rises, "
        "the rest on their own nodes; online as batch.online (default tidewise)",
        tidewise_controllers,
    ),
}


def policy_settings(name: str) -> dict[str, Any]:
    """What a sweep may set on the policy ``name`` (``--param policy.FIELD``): its builder's
    keyword arguments and their defaults (``tidewise`` has its parts' flags, its service
    levels, the serverless break-even, its node autoscaler's settings; the baselines none)."""
    parameters = inspect.signature(POLICIES[name][1]).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
