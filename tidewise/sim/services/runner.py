"""From a validated scenario to a report: resolve data, build the twin, run every policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tidewise.capacity.costshare import unit_prices
from tidewise.capacity.lower_bound import offline_lower_bound
from tidewise.catalog import (
    BUILTIN_CATALOGS,
    Catalog,
    ReservedPricing,
    ServerlessPricing,
    builtin_catalog_path,
    load_catalog,
    serverless_price_per_hour,
)
from tidewise.model import Offering, PurchaseOption, Resources, WorkloadSpec
from tidewise.model.results import RunResult, SimReport
from tidewise.placement import pods_per_node
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES
from tidewise.sim.processes import Progress, ProgressQueue, relay, run_in_processes
from tidewise.sim.services.batch import (
    BatchTask,
    batch_layer,
    batch_load,
    observer,
    online_policy,
)
from tidewise.sim.services.cloud import CloudSettings, Shortage, Storm
from tidewise.sim.services.policies import POLICIES
from tidewise.sim.services.rightsizing import rightsize
from tidewise.sim.services.scenario import Scenario, ScenarioError, resolve_path
from tidewise.sim.services.twin import MINUTE_S, Twin, TwinSetup
from tidewise.sim.traces import (
    BUILTIN_TRACES,
    MinuteTrace,
    TraceError,
    builtin_trace_path,
    load_minute_trace,
)


@dataclass(frozen=True)
class PreparedScenario:
    scenario: Scenario
    setup: TwinSetup
    base: Path  # where the scenario's relative paths start (a worker process prepares again)
    batch: tuple[BatchTask, ...] = ()  # the batch load's executor pods (scenario.batch)


def prepare(scenario: Scenario, base: Path) -> PreparedScenario:
    """Load the catalog and traces and check every cross-reference, before any replay."""
    for i, name in enumerate(scenario.policies):
        if name not in POLICIES:
            raise ScenarioError(
                f"policies[{i}]: unknown policy {name!r}; known: {', '.join(POLICIES)}"
            )
    catalog, offerings, specs = capacity_inputs(scenario, base)
    minutes = int(scenario.horizon // 60)
    traces: dict[tuple[object, ...], MinuteTrace] = {}
    demand = np.zeros((len(scenario.workloads), minutes))
    for i, workload in enumerate(scenario.workloads):
        spec = workload.trace
        where = resolve_path(spec.path, base, BUILTIN_TRACES)
        path = builtin_trace_path(where) if isinstance(where, str) else where
        key = (str(path), spec.time_column, spec.value_column, spec.unit)
        try:
            trace = traces.get(key) or load_minute_trace(
                path, spec.time_column, spec.value_column, spec.unit
            )
            traces[key] = trace
            start = workload.trace.start.timestamp() + workload.trace.shift
            requests = trace.window(start, minutes, workload.trace.on_gap)
        except TraceError as err:
            raise ScenarioError(f"workloads[{i}].trace: {err}") from None
        demand[i] = requests * workload.trace.scale / 60
    on_demand = {
        (o.instance_type.name, o.zone): o.price_per_hour
        for o in catalog.offerings
        if o.option is PurchaseOption.ON_DEMAND
    }

    def price_of(offering: Offering, size: Resources | None) -> float:
        if offering.option is PurchaseOption.SERVERLESS:
            assert size is not None
            return serverless_price_per_hour(offering, size)
        return offering.price_per_hour

    def on_demand_price_of(offering: Offering) -> float:
        return on_demand[(offering.instance_type.name, offering.zone)]

    cloud = scenario.cloud
    setup = TwinSetup(
        horizon_s=scenario.horizon,
        start_unix_s=scenario.workloads[0].trace.start.timestamp(),
        workloads=specs,
        demand_rps=demand,
        offerings=offerings,
        cloud=CloudSettings(
            vm_boot_s=cloud.vm_boot,
            serverless_boot_s=cloud.serverless_boot,
            shortages=tuple(
                Shortage(s.start, s.end, frozenset(s.instance_types)) for s in cloud.spot_shortages
            ),
            storms=tuple(
                Storm(s.start, s.end, s.interruption_multiplier, s.capacity)
                for s in cloud.spot_storms
            ),
            boot_failure=cloud.boot_failure,
            node_failures_per_hour=cloud.node_failures_per_hour,
        ),
        price_of=price_of,
        on_demand_price_of=on_demand_price_of,
        utc_offset_s=_utc_offset_s(scenario.workloads[0].trace.start),
    )
    return PreparedScenario(scenario, setup, base, batch_load(scenario, base))


def run(
    prepared: PreparedScenario, progress: Progress | None = None, workers: int = 1
) -> SimReport:
    """Replay every policy of the scenario on the same demand and the same seed.

    The policies are independent replays, so with ``workers`` > 1 they run in that many
    processes (``tidewise sim`` uses one per CPU); each result is the one a sequential run
    gives, since each twin starts from the scenario's seed."""
    scenario = prepared.scenario
    setup = prepared.setup
    names = list(scenario.policies)
    if workers > 1 and len(names) > 1:
        runs = _replay_in_processes(prepared, names, workers, progress)
    else:
        runs = [_replay(prepared, name, progress) for name in names]
    lower_bound = offline_lower_bound(
        setup.workloads, setup.demand_rps, MINUTE_S, setup.offerings, setup.price_of
    )
    ahead = offline_lower_bound(
        setup.workloads,
        setup.demand_rps,
        MINUTE_S,
        setup.offerings,
        setup.price_of,
        lead_s=startup_leads(setup),
    )
    return SimReport(
        scenario=scenario.name,
        horizon_s=scenario.horizon,
        seed=scenario.seed,
        runs=runs,
        lower_bound_usd=lower_bound,
        startup_lower_bound_usd=ahead,
    )


def _replay(
    prepared: PreparedScenario,
    name: str,
    progress: Progress | None,
    settings: PolicySettings | None = None,
) -> RunResult:
    """One policy's week, with its right-sizing table; ``settings``: the policy builder's
    keyword arguments (a sweep's), its defaults otherwise."""
    setup = prepared.setup
    controllers = POLICIES[online_policy(prepared.scenario, name)][1](setup, **(settings or {}))
    layer = batch_layer(prepared.scenario, setup, prepared.batch, name)
    usages = {w.name: w.usage for w in prepared.scenario.workloads}
    look = None if layer is None else observer(layer, usages)
    twin = Twin(setup, controllers, np.random.default_rng(prepared.scenario.seed), look)
    result = twin.run(name, None if progress is None else _bind_progress(progress, name))
    if layer is not None:
        result = result.model_copy(update={"batch": layer.finish()})
    if result.timeseries is not None:
        usage = [w.usage for w in prepared.scenario.workloads]
        lines = rightsize(setup.workloads, usage, result.timeseries, unit_prices(setup.offerings))
        result = result.model_copy(update={"rightsizing": lines})
    if progress is not None:
        progress(name, 1.0)
    return result


PolicySettings = dict[str, Any]
Task = tuple[Scenario, Path, str, PolicySettings]
"""One replay a worker does: a scenario, the folder its paths start from, a policy and its
settings."""


def _replay_in_processes(
    prepared: PreparedScenario, names: list[str], workers: int, progress: Progress | None
) -> list[RunResult]:
    tasks: list[Task] = [(prepared.scenario, prepared.base, name, {}) for name in names]
    return replay_in_processes(tasks, workers, progress)


def replay_in_processes(
    tasks: Sequence[Task],
    workers: int,
    progress: Progress | None = None,
    done: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Each task in a worker process (:func:`tidewise.sim.processes.run_in_processes`),
    results in task order, ``done`` told of each as it comes (the sweep writes it at once)."""
    return run_in_processes(_replay_prepared_again, tasks, workers, progress, done)


def replay(
    scenario: Scenario, base: Path, name: str, settings: PolicySettings | None = None
) -> RunResult:
    """One policy's replay of ``scenario``, prepared here: what a worker process or a Ray
    task runs (the prepared setup holds price functions, which do not pickle)."""
    return _replay_prepared_again(scenario, base, name, settings, None)


def _replay_prepared_again(
    scenario: Scenario,
    base: Path,
    name: str,
    settings: PolicySettings | None,
    queue: ProgressQueue | None,
) -> RunResult:
    """A worker's replay: the scenario prepared in this process, progress put on ``queue``."""
    return _replay(prepare(scenario, base), name, relay(queue), settings)


def startup_leads(setup: TwinSetup) -> list[float]:
    """How long before serving each workload's capacity is paid for at least: its start-up,
    plus the shortest boot of what can host it (a serverless container where one can, else a
    VM: the twin's boot ranges)."""
    serverless = [o for o in setup.offerings if o.option is PurchaseOption.SERVERLESS]
    leads = []
    for spec in setup.workloads:
        boot = setup.cloud.vm_boot_s[0]
        if not spec.requests.wants_gpu and any(_hosts(o, spec, setup) for o in serverless):
            boot = min(boot, setup.cloud.serverless_boot_s[0])
        leads.append(spec.startup_s + boot)
    return leads


def _hosts(offering: Offering, spec: WorkloadSpec, setup: TwinSetup) -> bool:
    try:
        setup.price_of(offering, spec.requests)
    except ValueError:
        return False
    return True


BUILTIN_ATTRIBUTION = {
    "builtin:nasa-http-1995": "Traffic: NASA-HTTP trace, Internet Traffic Archive "
    "(Arlitt & Williamson, 1996).",
    "builtin:aws-us-east-1": "Prices: AWS on-demand prices via aws/karpenter-provider-aws "
    "(Apache-2.0); spot savings and interruption bands from the AWS Spot Advisor feed via "
    "alexei-led/spotinfo (Apache-2.0).",
}


def attribution(scenario: Scenario) -> str:
    """Where the replayed data comes from, for the report's footer (data/README.md)."""
    sources = [w.trace.path for w in scenario.workloads] + [scenario.catalog.path]
    lines = []
    for source in dict.fromkeys(sources):
        lines.append(BUILTIN_ATTRIBUTION.get(source, f"Data: {source}."))
    return " ".join(lines) + " See data/README.md."


def _bind_progress(progress: Progress, name: str) -> Callable[[float], None]:
    return lambda fraction: progress(name, fraction)


def capacity_inputs(
    scenario: Scenario, base: Path
) -> tuple[Catalog, tuple[Offering, ...], tuple[WorkloadSpec, ...]]:
    """The scenario's catalog, the offerings of its node pools and its workloads, checked
    (every pool type is in the catalog, every workload fits one): what a capacity policy
    reads, in the twin and when rendered for Karpenter."""
    catalog = _load_catalog(scenario, base)
    offerings = _pool_offerings(scenario, catalog)
    specs = tuple(
        WorkloadSpec(
            name=w.name,
            requests=w.requests.resources(),
            rps_per_replica=w.rps_per_replica,
            startup_s=w.startup,
            min_replicas=w.replicas.min,
            max_replicas=w.replicas.max,
            target_utilization=w.target_utilization,
            rules=w.capacity.rules(),
            hpa_floor=w.hpa_floor,
            overload_risk=w.overload_risk,
        )
        for w in scenario.workloads
    )
    _check_hostable(specs, offerings)
    return catalog, offerings, specs


def _load_catalog(scenario: Scenario, base: Path) -> Catalog:
    spec = scenario.catalog
    where = resolve_path(spec.path, base, dict.fromkeys(BUILTIN_CATALOGS))
    path = builtin_catalog_path(where) if isinstance(where, str) else where
    if not path.is_file():
        raise ScenarioError(f"catalog.path: file {path} does not exist")
    advisor = None
    if spec.spot_advisor is not None:
        advisor_path = resolve_path(spec.spot_advisor, base)
        assert isinstance(advisor_path, Path)
        if not advisor_path.is_file():
            raise ScenarioError(f"catalog.spot_advisor: file {advisor_path} does not exist")
        advisor = advisor_path
    overrides = spec.serverless.model_dump(exclude_none=True)
    serverless = ServerlessPricing(**overrides)
    try:
        return load_catalog(
            path,
            provider=spec.provider,
            reserved=ReservedPricing(discount=spec.reserved.discount, term_s=spec.reserved.term),
            serverless=serverless,
            spot_advisor=advisor,
            region=spec.region,
            zones=spec.zones,
            default_band=spec.default_spot_band,
        )
    except ValueError as err:
        raise ScenarioError(f"catalog: {err}") from None


def _pool_offerings(scenario: Scenario, catalog: Catalog) -> tuple[Offering, ...]:
    allowed: set[str] = set()
    for p, pool in enumerate(scenario.node_pools):
        for t, name in enumerate(pool.instance_types):
            if name not in catalog.instance_types:
                known = ", ".join(sorted(catalog.instance_types)[:12])
                raise ScenarioError(
                    f"node_pools[{p}].instance_types[{t}]: {name!r} is not in the catalog "
                    f"(e.g. {known}, ...)"
                )
            allowed.add(name)
    return tuple(
        o
        for o in catalog.offerings
        if o.instance_type.name in allowed or o.option is PurchaseOption.SERVERLESS
    )


def _check_hostable(specs: tuple[WorkloadSpec, ...], offerings: tuple[Offering, ...]) -> None:
    for i, spec in enumerate(specs):
        if not any(
            pods_per_node(
                o.instance_type.capacity,
                spec.requests,
                cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES,
            )
            for o in offerings
            if o.option is not PurchaseOption.SERVERLESS
        ):
            raise ScenarioError(
                f"workloads[{i}].requests: no instance type of the node pools can host one "
                "replica; add a larger (or GPU) type to node_pools or lower the requests"
            )


def _utc_offset_s(start: datetime) -> float:
    """The scenario's clock: its first trace's start offset (a naive start is UTC)."""
    offset = start.utcoffset()
    return offset.total_seconds() if offset is not None else 0.0
