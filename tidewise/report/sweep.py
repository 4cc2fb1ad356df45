"""``tidewise sweep``'s table and its HTML report: the Pareto chart of cost against violation
minutes, every setting a point, the front joined up and the recommended setting marked."""

from __future__ import annotations

from html import escape
from pathlib import Path

import plotly.graph_objects as go
from rich.table import Table

from tidewise.model.sweep import SweepPoint, SweepReport
from tidewise.report.page import write_chart_page


def setting_text(point: SweepPoint) -> str:
    """A setting in a cell: ``path=value`` pairs, or the scenario as written."""
    if not point.setting:
        return "(as written)"
    return " ".join(f"{path}={value}" for path, value in point.setting.items())


def sweep_table(report: SweepReport) -> Table:
    """One row per setting, cheapest first: the mean cost, violation minutes and service
    over the seeds, the front (*) and the recommended setting (>>)."""
    table = Table(title=f"{report.scenario}: {report.policy}, {len(report.seeds)} seed(s)")
    table.add_column("", no_wrap=True)
    table.add_column("Setting", overflow="fold")
    table.add_column("Cost $", justify="right", no_wrap=True)
    table.add_column("Viol. min", justify="right", no_wrap=True)
    table.add_column("Served %", justify="right", no_wrap=True)
    order = sorted(range(len(report.points)), key=lambda i: report.points[i].cost_usd)
    for i in order:
        point = report.points[i]
        mark = ">>" if i == report.recommended else ("*" if point.on_front else "")
        style = "bold green" if i == report.recommended else None
        table.add_row(
            mark,
            setting_text(point),
            f"{point.cost_usd:,.2f}",
            f"{point.violation_minutes:,.1f}",
            f"{100 * point.served_fraction:.3f}",
            style=style,
        )
    table.caption = f"* on the Pareto front; >> recommended: {report.rule}"
    return table


def pareto_figure(report: SweepReport) -> go.Figure:
    """Every setting at (violation minutes, cost); the front as a line; the pick a star."""
    points = report.points
    front = sorted((p for p in points if p.on_front), key=lambda p: p.violation_minutes)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[p.violation_minutes for p in points],
            y=[p.cost_usd for p in points],
            mode="markers",
            name="setting",
            text=[setting_text(p) for p in points],
            hovertemplate="%{text}<br>$%{y:,.2f}, %{x:,.1f} violation min<extra></extra>",
            marker={"color": "#8c959f", "size": 8},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[p.violation_minutes for p in front],
            y=[p.cost_usd for p in front],
            mode="lines+markers",
            name="Pareto front",
            line={"shape": "hv", "color": "#0969da"},
            marker={"color": "#0969da", "size": 9},
            hoverinfo="skip",
        )
    )
    if report.recommended is not None:
        pick = points[report.recommended]
        fig.add_trace(
            go.Scatter(
                x=[pick.violation_minutes],
                y=[pick.cost_usd],
                mode="markers+text",
                name="recommended",
                text=["recommended"],
                textposition="top right",
                marker={"symbol": "star", "size": 18, "color": "#1a7f37"},
                hovertemplate=escape(setting_text(pick)) + "<extra></extra>",
            )
        )
    fig.update_layout(
        title="Cost against violation minutes, mean over the seeds",
        xaxis_title="violation minutes (some workload served less than its demand)",
        yaxis_title="cost, USD",
        height=540,
    )
    return fig


def write_sweep_html(report: SweepReport, path: Path) -> None:
    """One self-contained page: the recommendation, the Pareto chart, every setting."""
    rows = []
    for i, p in enumerate(report.points):
        css = ' class="best"' if i == report.recommended else ""
        rows.append(
            f'<tr{css}><td>{escape(setting_text(p))}</td><td class="cost">{p.cost_usd:,.2f}'
            f"</td><td>{p.violation_minutes:,.1f}</td><td>{100 * p.served_fraction:.3f}</td>"
            f"<td>{'yes' if p.on_front else ''}</td></tr>"
        )
    table = (
        "<table><tr><th>setting</th><th>cost $</th><th>violation min</th><th>served %</th>"
        f"<th>on the front</th></tr>{''.join(rows)}</table>"
    )
    if report.recommended is None:
        lead = '<p class="lead">No setting was run.</p>'
    else:
        pick = report.points[report.recommended]
        lead = (
            f'<p class="lead">Recommended: <b>{escape(setting_text(pick))}</b>, '
            f"${pick.cost_usd:,.2f} and {pick.violation_minutes:,.1f} violation minutes.</p>"
            f'<p class="meta">{escape(report.rule)}; policy {escape(report.policy)}, '
            f"{report.search} search, seeds {', '.join(map(str, report.seeds))}, "
            f"{len(report.runs)} runs.</p>"
        )
    title = f"Sweep of {report.scenario}"
    write_chart_page(path, title, pareto_figure(report), table, lead_html=lead)
