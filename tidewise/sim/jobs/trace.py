"""Training-job traces: arrival, gang size and run time per job (the Philly-derived CSV).

The rows are read by the shared reader (``tidewise.sim.philly``). A window of arrivals is
cut out and thinned to one job in ``sample``, so a small cluster sees the trace's mix at a
rate it can be contended by.

Each job becomes a JobSpec: up to 8 GPUs one pod, wider jobs the fewest equal workers of at
most 8 GPUs each (one per 8-GPU node); 4 CPUs and 32 GiB per GPU (a third of an 8-GPU
node's CPU, a quarter of its memory). The trace says nothing of checkpointing or datasets:
``checkpointable_share`` of the jobs (by job id, reproducibly) are taken to checkpoint, and
with ``datasets`` > 0 each job reads one of that many datasets (by job id).

A fixed stride (``sample``) gives a load that swings with the heavy tail (one job of weeks on
16 GPUs is a large share of a small pool's week), so :func:`thin_to_load` instead takes the
window's jobs in a seeded pseudo-random order and keeps each one that still fits under a
target of offered GPU-hours: the offered load is then what was asked, give or take a job.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tidewise.model import JobSpec, Resources
from tidewise.sim.philly import PhillyError, read_rows

NODE_GPUS = 8
CPU_MILLI_PER_GPU = 4000
MEMORY_MIB_PER_GPU = 32 * 1024


JobTraceError = PhillyError
"""A job trace that cannot be replayed (the shared reader's error, and an empty window)."""


@dataclass(frozen=True, slots=True)
class TraceJob:
    spec: JobSpec
    arrival_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class TraceWindow:
    """Which jobs to replay: arrivals in [start_s, start_s + hours), one in ``sample``."""

    start_s: float = 0.0
    hours: float = 24.0
    sample: int = 1
    max_gpus: int | None = None  # drop jobs wider than this (wider than the cluster)
    checkpointable_share: float = 0.5
    datasets: int = 0


def gang(gpus: int) -> tuple[int, int]:
    """(workers, GPUs per worker): one pod up to a node, else the fewest equal workers."""
    if gpus <= NODE_GPUS:
        return 1, gpus
    workers = -(-gpus // NODE_GPUS)
    while gpus % workers:
        workers += 1
    return workers, gpus // workers


def job_spec(job_id: int, gpus: int, window: TraceWindow) -> JobSpec:
    workers, per_worker = gang(gpus)
    worker = Resources(
        cpu_milli=CPU_MILLI_PER_GPU * per_worker,
        memory_mib=MEMORY_MIB_PER_GPU * per_worker,
        gpu_count=per_worker,
    )
    return JobSpec(
        f"job-{job_id}",
        worker,
        workers=workers,
        image="trace",
        checkpointable=(job_id * 0.6180339887) % 1 < window.checkpointable_share,
        dataset=f"dataset-{job_id % window.datasets}" if window.datasets else None,
    )


def load_job_trace(path: Path, window: TraceWindow) -> tuple[list[TraceJob], int]:
    """The window's jobs in arrival order, and how many were dropped as wider than allowed."""
    rows = read_rows(path, window.start_s, window.start_s + window.hours * 3600, "--jobs")
    jobs: list[TraceJob] = []
    dropped = 0
    for kept, row in enumerate(rows):
        if kept % window.sample:
            continue
        if window.max_gpus is not None and row.gpus > window.max_gpus:
            dropped += 1
            continue
        spec = job_spec(row.job_id, row.gpus, window)
        jobs.append(TraceJob(spec, row.arrival_s - window.start_s, row.duration_s))
    if not jobs:
        raise JobTraceError(f"{path}: no job arrives in the window; move --start or widen --hours")
    return jobs, dropped


def _rank(name: str, seed: int) -> bytes:
    """A job's place in the seeded order: a hash, so the same on every machine."""
    return hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()


def offered_gpu_hours(jobs: Sequence[TraceJob], horizon_s: float = math.inf) -> float:
    """GPU-hours the jobs ask for before ``horizon_s`` (seconds from the window's start) if
    each ran from its arrival: the work a cluster of unlimited size would do in the window."""
    return sum(_work_before(j, horizon_s) for j in jobs) / 3600


def _work_before(job: TraceJob, horizon_s: float) -> float:
    return job.spec.gpus * max(0.0, min(job.duration_s, horizon_s - job.arrival_s))


def thin_to_load(jobs: Sequence[TraceJob], gpu_hours: float, seed: int = 0) -> list[TraceJob]:
    """The jobs, in arrival order, whose run times fill ``gpu_hours`` of GPU time.

    Jobs are taken in a seeded pseudo-random order (uniform over the window, so the arrival
    pattern is kept) and each is kept if the total stays within ``gpu_hours``; one that
    would overflow it is skipped and the next tried. A job alone larger than the target is
    never kept, so the very largest are under-represented when the target is small.
    """
    kept: set[str] = set()
    total = 0.0
    for job in sorted(jobs, key=lambda j: _rank(j.spec.name, seed)):
        work = job.spec.gpus * job.duration_s / 3600
        if total + work <= gpu_hours:
            kept.add(job.spec.name)
            total += work
    return [j for j in jobs if j.spec.name in kept]
