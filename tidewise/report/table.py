"""The terminal comparison: which policy is cheapest, by how much, and at what service level.

By default the tables keep the columns that answer that question (cost, its change against the
first policy, the service) so that they fit an 80-column terminal; ``wide`` adds the split by
purchase option, the capacity and launch counts, and right-sizing's vCPU and GiB, as
``kubectl -o wide`` does.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tidewise.model.results import SimReport
from tidewise.report.summary import (
    BATCH_HEADERS,
    COST_COLUMN,
    MINUS,
    RIGHTSIZING_HEADERS,
    VS_FIRST_COLUMN,
    WORKLOAD_HEADERS,
    batch_rows,
    bounds,
    horizon,
    policy_summary,
    rightsizing_rows,
    workload_groups,
)

NARROW_POLICY_COLUMNS = ("Policy", "Cost", "Served", "Violation min")
NARROW_RIGHTSIZING_COLUMNS = ("Policy", "Workload", "CPU m", "Memory MiB", "USD/month")


def _kept(headers: tuple[str, ...], wide: bool, narrow: tuple[str, ...]) -> list[int]:
    """Indices of the columns shown: all when ``wide``, else ``narrow``'s and the "vs"
    column (its header names the first policy)."""
    return [i for i, h in enumerate(headers) if wide or h in narrow or (i == VS_FIRST_COLUMN and h)]


def render_table(report: SimReport, console: Console, wide: bool = False) -> None:
    """Print the policy comparison and, below it, the per-workload service figures."""
    console.print(_policy_table(report, wide))
    if any(run.workloads for run in report.runs):
        console.print(_workload_table(report))
    rows = rightsizing_rows(report)
    if rows:
        kept = _kept(RIGHTSIZING_HEADERS, wide, NARROW_RIGHTSIZING_COLUMNS)
        table = Table(
            title="right-sizing: request → what the usage needs, per replica (VPA's rule)",
            caption="back at mean replicas; an HPA on CPU adds replicas if CPU requests shrink",
        )
        for i in kept:
            table.add_column(RIGHTSIZING_HEADERS[i], justify="left" if i < 2 else "right")
        for row in rows:
            table.add_row(*(row[i] for i in kept))
        console.print(table)
    batch = batch_rows(report)
    if batch:
        table = Table(
            title="batch load: work done, evictions and cost (docs/colocation.md)",
            caption="core-hours of executor CPU; batch cost is the batch's own nodes",
        )
        for i, header in enumerate(BATCH_HEADERS):
            table.add_column(header, justify="left" if i == 0 else "right")
        for row in batch:
            table.add_row(*row)
        console.print(table)


def _policy_table(report: SimReport, wide: bool) -> Table:
    summary = policy_summary(report)
    kept = _kept(summary.headers, wide, NARROW_POLICY_COLUMNS)
    floor = bounds(report)
    table = Table(
        title=f"{report.scenario} · {horizon(report.horizon_s)} · seed {report.seed}",
        caption=f"cheapest policy in bold green · {floor}" if summary.rows else "no runs",
    )
    for i in kept:
        table.add_column(summary.headers[i], justify="left" if i == 0 else "right", no_wrap=True)
    for r, row in enumerate(summary.rows):
        cells = [Text(cell) for cell in row]
        if r == summary.cheapest:
            cells[COST_COLUMN].stylize("bold green")
        cells[VS_FIRST_COLUMN].stylize(_change_style(row[VS_FIRST_COLUMN]))
        table.add_row(*(cells[i] for i in kept))
    return table


def _change_style(cell: str) -> str:
    """Savings read green and extra cost red, so the sign is seen before it is read."""
    if cell.startswith(MINUS):
        return "green"
    if cell.startswith("+"):
        return "red"
    return "dim"


def _workload_table(report: SimReport) -> Table:
    table = Table(title="per workload")
    table.add_column("Workload", no_wrap=True)
    for i, header in enumerate(WORKLOAD_HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    groups = workload_groups(report)
    for g, group in enumerate(groups):
        for r, row in enumerate(group.rows):
            table.add_row(
                group.workload if r == 0 else "",
                *row,
                end_section=r == len(group.rows) - 1 and g < len(groups) - 1,
            )
    return table
