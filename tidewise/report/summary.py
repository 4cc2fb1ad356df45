"""The comparison figures as text cells, shared by the terminal table and the HTML page.

Both views format from here so that a reader who compares the terminal output with the page
sees the very same numbers, rounded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model.results import PURCHASE_OPTIONS, RunResult, SimReport

MINUS = "\N{MINUS SIGN}"

COST_COLUMN = 1
"""Index of the total-cost cell in every policy row (the one highlighted for the cheapest)."""

VS_FIRST_COLUMN = 2
"""Index of the cost ratio against the first policy."""


@dataclass(frozen=True, slots=True)
class Summary:
    """A table of text cells: the first column names the row, the others are figures."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    cheapest: int | None
    """Row of the cheapest policy, ``None`` when the report holds no run."""


@dataclass(frozen=True, slots=True)
class WorkloadGroup:
    """One workload's figures, one row per policy."""

    workload: str
    rows: tuple[tuple[str, ...], ...]


WORKLOAD_HEADERS = ("Policy", "Served", "Violation min", "Peak replicas")


def usd(value: float) -> str:
    return f"${value:,.2f}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"


def change(cost: float, baseline: float) -> str:
    """Cost relative to the baseline as a signed whole percentage (``-42%``, with a minus sign)."""
    if baseline <= 0:
        return "n/a"
    pct = round((cost / baseline - 1.0) * 100)
    if pct == 0:
        return "±0%"
    return f"+{pct}%" if pct > 0 else f"{MINUS}{-pct}%"


def used_options(runs: list[RunResult]) -> list[str]:
    """Purchase options that cost something in at least one run, in the canonical order.

    A column of zeros only widens the table, so options no policy bought are left out;
    options the schema does not know yet are kept, after the known ones.
    """
    spent = {opt for run in runs for opt, cost in run.cost_by_option_usd.items() if cost > 0}
    known = [opt for opt in PURCHASE_OPTIONS if opt in spent]
    return known + sorted(spent - set(PURCHASE_OPTIONS))


def bounds(report: SimReport) -> str:
    """The scenario's cost floors: capacity the instant it is needed, and bought a start-up
    ahead (docs/capacity.md); every policy reads against them."""
    line = f"offline lower bound {usd(report.lower_bound_usd)}"
    if report.startup_lower_bound_usd is not None:
        line += f" · {usd(report.startup_lower_bound_usd)} buying a start-up ahead"
    return line


def policy_summary(report: SimReport) -> Summary:
    """One row per policy: cost, its split by purchase option, service and resource figures."""
    runs = report.runs
    options = used_options(runs)
    first = runs[0] if runs else None
    # what a disruption cost in service, when any run met one (a spot storm, failed boots)
    disrupted = any(r.interruptions or r.evictions or r.launch_failures for r in runs)
    disruption = ("Launch failures", "Evictions", "Pods lost") if disrupted else ()
    headers = (
        "Policy",
        "Cost",
        f"vs {first.policy}" if first else "vs first",
        *(opt.capitalize() for opt in options),
        "Served",
        "Violation min",
        "vCPU-h",
        "GPU-h",
        "Launches",
        "Interruptions",
        *disruption,
    )
    rows = tuple(
        (
            run.policy,
            usd(run.cost_usd),
            "—" if i == 0 else change(run.cost_usd, runs[0].cost_usd),
            *(usd(run.cost_by_option_usd.get(opt, 0.0)) for opt in options),
            percent(run.served_fraction),
            f"{run.violation_minutes:,.1f}",
            f"{run.vcpu_hours:,.1f}",
            f"{run.gpu_hours:,.1f}",
            f"{run.node_launches:,}",
            f"{run.interruptions:,}",
            *(
                (f"{run.launch_failures:,}", f"{run.evictions:,}", f"{run.pods_lost:,}")
                if disrupted
                else ()
            ),
        )
        for i, run in enumerate(runs)
    )
    cheapest = min(range(len(runs)), key=lambda i: runs[i].cost_usd) if runs else None
    return Summary(headers=headers, rows=rows, cheapest=cheapest)


def workload_groups(report: SimReport) -> list[WorkloadGroup]:
    """Per-workload service figures, grouped by workload so policies sit next to each other."""
    names: dict[str, None] = {}
    for run in report.runs:
        names.update((w.name, None) for w in run.workloads)
    groups = []
    for name in names:
        rows = tuple(
            (
                run.policy,
                percent(w.served_fraction),
                f"{w.violation_minutes:,.1f}",
                f"{w.peak_replicas:,}",
            )
            for run in report.runs
            for w in run.workloads
            if w.name == name
        )
        groups.append(WorkloadGroup(workload=name, rows=rows))
    return groups


def horizon(seconds: float) -> str:
    """A duration the way a person says it: ``7 d``, ``36 h``, ``90 min``."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


RIGHTSIZING_HEADERS = (
    "Policy",
    "Workload",
    "CPU m",
    "Memory MiB",
    "vCPU back",
    "GiB back",
    "USD/month",
)


def rightsizing_rows(report: SimReport) -> list[tuple[str, ...]]:
    """Per run and workload: request → VPA-style target per replica from that run's usage,
    and what the difference is worth at the run's mean replicas."""
    rows: list[tuple[str, ...]] = []
    for run in report.runs:
        for line in run.rightsizing:
            rows.append(
                (
                    run.policy,
                    line.workload,
                    f"{line.cpu_request_milli:,}→{line.cpu_target_milli:,}",
                    f"{line.memory_request_mib:,}→{line.memory_target_mib:,}",
                    f"{line.reclaimable_vcpu:,.1f}",
                    f"{line.reclaimable_gib:,.1f}",
                    "n/a"
                    if line.reclaimable_usd_per_month is None
                    else usd(line.reclaimable_usd_per_month),
                )
            )
    return rows


BATCH_HEADERS = (
    "Policy",
    "Jobs done",
    "Core-h done",
    "On online nodes",
    "Evictions",
    "Core-h lost",
    "Batch cost",
    "Online + batch",
)


def batch_rows(report: SimReport) -> list[tuple[str, ...]]:
    """Per run with a batch load (docs/colocation.md): the work done, where it ran, what
    evictions cost it, and what the batch's own nodes cost beside the online bill."""
    rows: list[tuple[str, ...]] = []
    for run in report.runs:
        batch = run.batch
        if batch is None:
            continue
        rows.append(
            (
                run.policy,
                f"{batch.jobs_completed:,}/{batch.jobs:,}",
                f"{batch.done_core_hours:,.0f}/{batch.offered_core_hours:,.0f}",
                f"{batch.shared_core_hours:,.0f}",
                f"{batch.evictions:,}",
                f"{batch.lost_core_hours:,.1f}",
                usd(batch.cost_usd),
                usd(run.cost_usd + batch.cost_usd),
            )
        )
    return rows
