"""``tidewise bench queue``: queue policies replaying a job trace on a fixed and an elastic pool.

Both pools use the same 8-GPU instance type (p4d.24xlarge, 8 x A100, in the builtin AWS
us-east-1 catalog): the fixed pool ``gpus / 8`` nodes on demand for the whole replay, the
elastic pool up to as many, on spot for checkpointable jobs and on demand for the others,
bought as jobs wait and released when idle. One queue holds all jobs with a nominal quota of
the pool's GPUs (the trace has no users or teams to split it by).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import DEFAULT_QUEUE, PurchaseOption
from tidewise.queue import DEFAULT_AGE_S, FlavorQuota, Ordering, QueueConfig, QueuePolicy
from tidewise.sim.jobs.replay import JobReplay, PoolSettings, ReplayResult
from tidewise.sim.jobs.trace import (
    TraceJob,
    TraceWindow,
    load_job_trace,
    offered_gpu_hours,
    thin_to_load,
)

# Benchmark policies: an ordering, and whether it uses the run-time estimates. Kueue's two
# orderings have none; EASY is Slurm's backfill; tidewise-blind is tidewise without them.
POLICIES: dict[str, tuple[Ordering, bool]] = {
    "fifo": (Ordering.FIFO, False),
    "best-effort-fifo": (Ordering.BEST_EFFORT_FIFO, False),
    "easy": (Ordering.EASY, True),
    "tidewise-blind": (Ordering.TIDEWISE, False),
    "tidewise": (Ordering.TIDEWISE, True),
}

INSTANCE_TYPE = "p4d.24xlarge"
ZONE = "use1-az1"


@dataclass(frozen=True, slots=True)
class QueueBenchSettings:
    gpus: int
    window: TraceWindow
    policies: tuple[str, ...] = tuple(POLICIES)
    age_s: float = DEFAULT_AGE_S
    starvation_s: float = 24 * 3600.0
    seed: int = 0
    load: float | None = 0.95  # thin the window to this offered load (None: keep the stride's)
    overestimate: float = 0.0


def pools(settings: QueueBenchSettings) -> dict[str, PoolSettings]:
    catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
    on_demand = catalog.offering(INSTANCE_TYPE, ZONE, PurchaseOption.ON_DEMAND)
    spot = catalog.offering(INSTANCE_TYPE, ZONE, PurchaseOption.SPOT)
    if settings.gpus % on_demand.instance_type.gpu_count:
        raise ValueError(f"--gpus: give a multiple of 8 (whole {INSTANCE_TYPE} nodes)")
    fixed = PoolSettings(
        gpus=settings.gpus,
        on_demand=on_demand,
        starvation_s=settings.starvation_s,
        overestimate=settings.overestimate,
    )
    return {"fixed": fixed, "elastic": replace(fixed, spot=spot, elastic=True)}


def run_queue_bench(
    trace: Sequence[TraceJob],
    settings: QueueBenchSettings,
    progress: Callable[[str, str], None] | None = None,
) -> dict[str, list[ReplayResult]]:
    """Every policy on each pool, in the order given: {"fixed": [...], "elastic": [...]}."""
    model = pools(settings)["fixed"].on_demand.instance_type.gpu_model or ""
    queues = (QueueConfig(DEFAULT_QUEUE, (FlavorQuota.gpus(model, settings.gpus),)),)
    results: dict[str, list[ReplayResult]] = {}
    for pool_name, pool in pools(settings).items():
        for name in settings.policies:
            ordering, estimates = POLICIES[name]
            policy = QueuePolicy(queues, ordering, settings.age_s, estimates)
            result = JobReplay(trace, policy, pool, name, settings.seed).run()
            results.setdefault(pool_name, []).append(result)
            if progress is not None:
                progress(pool_name, name)
    return results


def load_and_run(
    path: Path, settings: QueueBenchSettings
) -> tuple[dict[str, object], dict[str, list[ReplayResult]]]:
    """The JSON document of ``tidewise bench queue`` and the results behind it."""
    window = settings.window
    trace, dropped = load_job_trace(path, window)
    in_window = len(trace)
    capacity = settings.gpus * window.hours
    horizon_s = window.hours * 3600
    if settings.load is not None:
        trace = thin_to_load(trace, settings.load * capacity, settings.seed)
    results = run_queue_bench(trace, settings)
    offered = offered_gpu_hours(trace)
    in_horizon = offered_gpu_hours(trace, horizon_s)
    document: dict[str, object] = {
        "benchmark": "queue",
        "jobs_csv": str(path),
        "window": {
            "start_s": window.start_s,
            "hours": window.hours,
            "sample": window.sample,
            "jobs_in_window": in_window,
            "target_load": settings.load,
            "jobs": len(trace),
            "dropped_wider_than_max_gpus": dropped,
            "offered_gpu_hours": round(offered, 1),
            "offered_gpu_hours_in_window": round(in_horizon, 1),
            "capacity_gpu_hours": round(capacity, 1),
            "offered_load": round(offered / capacity, 3),
            "offered_load_in_window": round(in_horizon / capacity, 3),
            "checkpointable_share": window.checkpointable_share,
            "datasets": window.datasets,
        },
        "gpus": settings.gpus,
        "instance_type": INSTANCE_TYPE,
        "age_s": settings.age_s,
        "overestimate": settings.overestimate,
        "starvation_bound_s": settings.starvation_s,
        **{pool: [r.summary() for r in runs] for pool, runs in results.items()},
        "details": {
            pool: {
                r.policy: {
                    "max_wait_s": round(r.max_wait_s, 1),
                    "restarts": r.restarts,
                    "lost_gpu_hours": round(r.lost_gpu_hours, 2),
                    "interruptions": r.interruptions,
                    "node_launches": r.node_launches,
                    "makespan_s": round(r.makespan_s, 1),
                }
                for r in runs
            }
            for pool, runs in results.items()
        },
    }
    return document, results
