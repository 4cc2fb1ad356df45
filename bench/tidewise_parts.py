"""What each part of the ``tidewise`` capacity stack is worth, and where its dollars go.

Replays a scenario (default: the bundled week) under the full ``tidewise`` policy and under
copies without replicas sized to a service level (the HPA + forecast at the target
utilisation instead), without serverless bursts, without spot-pool rules (spread and bands),
without consolidation, without the reserved floor and without the workloads' on-demand
bases, in one process on the same seed, and prints one JSON object per variant: cost,
service (also per workload), violation minutes, evictions, serverless spend, wall time.

With ``--where``, replays ``tidewise`` and the ``karpenter`` baseline instead with a
:class:`Spend` probe beside their controllers, and prints where each one's dollars go:
per tier (GPU nodes, CPU nodes, serverless), per node state (booting, empty, the requested
share of a busy node, its idle rest), per instance type and purchase option, and each
workload's replicas against the replicas its load needs.

With ``--sweep``, replays ``tidewise`` alone on every combination of the settings given
(``--vm-risk``, ``--burst-risk``, ``--overhead``, ``--scale-down-window``, ``--refit``; each
defaults to
the policy's own), one row per combination: how its levels, break-even and scale-down window
were chosen.

    python bench/tidewise_parts.py [scenario.yaml] [--where | --sweep ...]

(``-P``: this folder's ``queue.py`` would otherwise shadow the standard library's.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tidewise.capacity.serverless import BREAK_EVEN_OVERHEAD_S
from tidewise.cli.sim import default_scenario_path
from tidewise.model import ClusterView, Controller, Decision, Node, NodeState, PurchaseOption
from tidewise.scaling.behavior import HpaBehavior, ScalingRules
from tidewise.scaling.elastic import TIDEWISE_BEHAVIOR
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.services.policies import (
    BURST_LEVEL,
    POLICIES,
    TIDEWISE_REFIT_S,
    VM_LEVEL,
    tidewise_controllers,
)
from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import load_scenario
from tidewise.sim.services.twin import Twin, TwinSetup

VARIANTS: dict[str, dict[str, bool]] = {
    "tidewise": {},
    "no-slo": {"slo": False},
    "no-serverless": {"serverless": False},
    "no-spot-pools": {"spot_pools": False},
    "no-consolidation": {"consolidation": False},
    "no-reserved-floor": {"reserved_floor": False},
    "no-on-demand-base": {},
}
NO_BASE = "no-on-demand-base"  # the same policy on workloads without their on-demand base
WHERE_POLICIES = ("karpenter", "tidewise")
PROBE_PERIOD_S = 10.0
"""The probe samples on the node autoscalers' own 10 s grid (Karpenter's 1 s grid holds it),
last in the list, so it never adds a scheduling pass at an instant no controller had."""


def without_bases(setup: TwinSetup) -> TwinSetup:
    """The scenario with every workload's on-demand base at zero."""
    bare = tuple(
        replace(w, rules=replace(w.rules, on_demand_base=0, on_demand_base_pct=0.0))
        for w in setup.workloads
    )
    return replace(setup, workloads=bare)


def _tier(node: Node) -> str:
    if node.offering.option is PurchaseOption.SERVERLESS:
        return "serverless"
    return "gpu" if node.capacity.gpu_count else "cpu"


def _used_share(node: Node) -> float:
    """The requested share of a node: of its GPUs on a GPU node (what it is bought for),
    else the larger of CPU and memory (cluster-autoscaler's utilisation)."""
    if node.capacity.gpu_count:
        free = sum(node.gpu_free_milli)
        return 1 - free / (1000 * node.capacity.gpu_count)
    return min(node.utilisation, 1.0)


@dataclass
class Spend:
    """Samples the cluster every ``PROBE_PERIOD_S`` and books each node's price over the
    period to its tier and state; decides nothing. Prices are the offerings' hourly rates
    (a serverless container's from its pod's size), so the total is the bill less per-second
    rounding, minimum charges and reserved terms paid past their node."""

    setup: TwinSetup
    usd: defaultdict[str, defaultdict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    node_hours: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    replica_hours: defaultdict[str, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0.0])
    )

    @property
    def period_s(self) -> float | None:
        return PROBE_PERIOD_S

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        hours = PROBE_PERIOD_S / 3600
        for node in view.nodes:
            serverless = node.offering.option is PurchaseOption.SERVERLESS
            price = self.setup.price_of(node.offering, node.capacity if serverless else None)
            tier = self.usd[_tier(node)]
            if node.state is not NodeState.READY:
                tier["booting"] += price * hours
            elif node.pod_count == 0:
                tier["empty"] += price * hours
            else:
                share = _used_share(node)
                tier["requested"] += price * hours * share
                tier["idle"] += price * hours * (1 - share)
            self.node_hours[f"{node.offering.instance_type.name}/{node.offering.option}"] += hours
        for status in view.workloads:
            paid = self.replica_hours[status.spec.name]
            paid[0] += (status.ready + status.starting + status.pending) * hours
            paid[1] += status.demand_rps / status.spec.rps_per_replica * hours
        return []

    def summary(self) -> dict[str, object]:
        tiers = {
            tier: {k: round(v, 2) for k, v in sorted(states.items())}
            | {"total": round(sum(states.values()), 2)}
            for tier, states in sorted(self.usd.items())
        }
        return {
            "modelled_usd": round(sum(sum(s.values()) for s in self.usd.values()), 2),
            "by_tier": tiers,
            "node_hours": {k: round(v, 1) for k, v in sorted(self.node_hours.items())},
            "replica_hours": {
                name: {"paid": round(paid, 1), "load_needs": round(need, 1)}
                for name, (paid, need) in sorted(self.replica_hours.items())
            },
        }


def _outcome(result: object) -> dict[str, object]:
    from tidewise.model.results import RunResult

    assert isinstance(result, RunResult)
    return {
        "cost_usd": round(result.cost_usd, 2),
        "served_fraction": round(result.served_fraction, 5),
        "violation_minutes": result.violation_minutes,
        "workloads": {
            w.name: [round(w.served_fraction, 5), w.violation_minutes] for w in result.workloads
        },
        "evictions": result.evictions,
        "pods_lost": result.pods_lost,
        "serverless_usd": round(result.cost_by_option_usd["serverless"], 2),
        "on_demand_usd": round(result.cost_by_option_usd["on-demand"], 2),
        "vcpu_hours": round(result.vcpu_hours, 1),
        "gpu_hours": round(result.gpu_hours, 1),
    }


def run(
    name: str, setup: TwinSetup, controllers: list[Controller], seed: int, scenario: str
) -> dict[str, object]:
    started = time.perf_counter()
    result = Twin(setup, controllers, np.random.default_rng(seed)).run(name)
    return {"scenario": scenario, "variant": name, **_outcome(result)} | {
        "wall_s": round(time.perf_counter() - started, 1)
    }


def with_window(window_s: int) -> HpaBehavior:
    """tidewise's replica behaviour with another scale-down stabilisation window (on a
    cluster: the ElasticScaler's ``spec.behavior.scaleDown.stabilizationWindowSeconds``)."""
    down = TIDEWISE_BEHAVIOR.scale_down
    return replace(
        TIDEWISE_BEHAVIOR, scale_down=ScalingRules(window_s, down.policies, down.select_policy)
    )


def sweep(args: argparse.Namespace, setup: TwinSetup, seed: int, scenario: str) -> None:
    """One ``tidewise`` run per combination of the settings, each row naming its settings."""
    grid = itertools.product(
        args.vm_risk, args.burst_risk, args.overhead, args.scale_down_window, args.refit
    )
    for vm, burst, overhead, window, refit in grid:
        controllers = tidewise_controllers(
            setup,
            vm_level=ServiceLevel(overload_risk=vm),
            burst_level=ServiceLevel(overload_risk=burst),
            break_even_overhead_s=overhead,
            behavior=with_window(window),
            refit_s=refit,
        )
        settings = {"vm_risk": vm, "burst_risk": burst, "overhead_s": overhead, "window_s": window}
        settings["refit_s"] = refit
        print(
            json.dumps(settings | run("tidewise", setup, controllers, seed, scenario)), flush=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=default_scenario_path())
    parser.add_argument("--where", action="store_true", help="where the dollars go")
    parser.add_argument("--sweep", action="store_true", help="tidewise on a grid of settings")
    parser.add_argument("--variant", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    grid = {
        "--vm-risk": [VM_LEVEL.overload_risk],
        "--burst-risk": [BURST_LEVEL.overload_risk],
        "--overhead": [BREAK_EVEN_OVERHEAD_S],
        "--refit": [TIDEWISE_REFIT_S],
    }
    for flag, default in grid.items():
        parser.add_argument(flag, type=float, nargs="+", default=default)
    window = TIDEWISE_BEHAVIOR.scale_down.stabilization_window_s
    parser.add_argument("--scale-down-window", type=int, nargs="+", default=[window])
    args = parser.parse_args()
    scenario, base = load_scenario(args.scenario)
    setup = prepare(scenario, base).setup
    if args.sweep:
        sweep(args, setup, scenario.seed, scenario.name)
        return
    if args.where:
        for policy in WHERE_POLICIES:
            probe = Spend(setup)
            controllers = [*POLICIES[policy][1](setup), probe]
            row = run(policy, setup, controllers, scenario.seed, scenario.name)
            print(json.dumps(row | probe.summary()), flush=True)
        return
    for name in args.variant:
        parts = VARIANTS[name]
        run_setup = without_bases(setup) if name == NO_BASE else setup
        controllers = tidewise_controllers(
            run_setup,
            serverless=parts.get("serverless", True),
            spot_pools=parts.get("spot_pools", True),
            consolidation=parts.get("consolidation", True),
            reserved_floor=parts.get("reserved_floor", True),
            slo=parts.get("slo", True),
        )
        print(
            json.dumps(run(name, run_setup, controllers, scenario.seed, scenario.name)), flush=True
        )


if __name__ == "__main__":
    main()
