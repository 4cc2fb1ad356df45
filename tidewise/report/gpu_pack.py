"""Tables and the allocation plot of ``tidewise bench gpu-pack`` (the FGD paper's Fig. 9a)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import plotly.graph_objects as go
from rich.table import Table

from tidewise.model.results import GpuMovesSummary, GpuPackSummary
from tidewise.report.page import write_chart_page

LEVELS_SHOWN = ("80", "90", "100", "110", "130")
PLOT_FROM = 75  # below ~90 % arrived every policy but random places everything


def gpu_pack_table(results: list[GpuPackSummary]) -> Table:
    """GPU allocation (% of cluster GPUs) at arrived-demand levels, one row per policy."""
    table = Table(title=f"GPU allocation % on {results[0].workload}" if results else None)
    table.add_column("Policy")
    for level in LEVELS_SHOWN:
        table.add_column(f"@{level}%", justify="right")
    table.add_column("Frag @100%", justify="right")
    table.add_column("Failed pods", justify="right")
    table.add_column("Pods/s", justify="right")
    best = max((r.alloc_pct_at.get("130", 0.0) for r in results), default=0.0)
    for r in results:
        cells = [f"{r.alloc_pct_at[k]:.2f}" if k in r.alloc_pct_at else "-" for k in LEVELS_SHOWN]
        if r.alloc_pct_at.get("130") == best:
            cells[-1] = f"[bold green]{cells[-1]}[/]"
        frag = r.frag_pct_at.get("100")
        table.add_row(
            r.policy,
            *cells,
            "-" if frag is None else f"{frag:.2f}",
            f"{r.failed_pods:,.0f}",
            f"{r.pods_per_second:,.0f}",
        )
    return table


def gpu_moves_table(results: list[GpuMovesSummary]) -> Table:
    """With moves: the allocation when every pod has arrived (@130%), after a descheduling
    pass, and with the failed pods offered again; the pods moved; the bound no move passes."""
    table = Table(
        title=f"GPU allocation % with moves on {results[0].workload}" if results else None
    )
    for column in ("Policy", "@130%", "After pass", "Failed retried", "Moved", "Moved %"):
        table.add_column(column, justify="left" if column == "Policy" else "right")
    for column in ("Lost", "Bound", "Pods/s"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.policy,
            f"{r.alloc_pct_at.get('130', float('nan')):.2f}",
            f"{r.alloc_pct_end:.2f}",
            f"{r.alloc_pct_retried:.2f}",
            f"{r.moved_pods:,.1f}",
            f"{r.moved_pct_of_placed:.2f}",
            f"{r.lost_pods:,.1f}",
            f"{r.alloc_bound_pct:.2f}",
            f"{r.pods_per_second:,.0f}",
        )
    return table


def gpu_pack_figure(results: list[GpuPackSummary]) -> go.Figure:
    """Unallocated GPUs against arrived demand: where the lines part, policies differ."""
    fig = go.Figure()
    for r in results:
        levels = sorted((k for k in r.alloc_pct_at if int(k) >= PLOT_FROM), key=int)
        fig.add_trace(
            go.Scatter(
                x=[int(k) for k in levels],
                y=[100 - r.alloc_pct_at[k] for k in levels],
                name=r.policy,
                mode="lines",
            )
        )
    fig.update_layout(
        title="Unallocated GPUs (% of cluster) against arrived GPU demand",
        xaxis_title="arrived GPU demand, % of cluster GPUs",
        yaxis_title="unallocated GPUs, %",
        template="plotly_white",
        height=520,
        yaxis={"rangemode": "tozero"},
    )
    return fig


def write_gpu_pack_html(results: list[GpuPackSummary], path: Path, title: str) -> None:
    """One self-contained page: the plot and the table of figures."""
    rows = "".join(
        "<tr><td>{}</td>{}</tr>".format(
            escape(r.policy),
            "".join(f"<td>{r.alloc_pct_at.get(k, float('nan')):.2f}</td>" for k in LEVELS_SHOWN),
        )
        for r in results
    )
    head = "".join(f"<th>alloc @{k}%</th>" for k in LEVELS_SHOWN)
    table = f"<table><tr><th>policy</th>{head}</tr>{rows}</table>"
    write_chart_page(path, title, gpu_pack_figure(results), table)
