"""Table and chart of ``tidewise bench autoscale``: demand, each policy's replicas, violations.

One chart, as the issue asks: the demand expressed in replicas (grey area) with every
policy's replica count over it, and beneath, one row of marks per policy at the times its
service fell below 99.9 %. Only the measured part (after the warm-up) is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from rich.table import Table

from tidewise.report.figures import POLICY_COLOURS, demand_area
from tidewise.report.page import write_chart_page
from tidewise.report.series import axis, bucket_means

SERVED_OK = 0.999
SHOWN_S = 7 * 86_400.0  # the initial zoom: a week, where single days can still be told apart


def autoscale_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    """One row per policy; ratios against ``hpa`` and ``oracle`` when they ran; the
    serverless pod-hours and the bill where the replay burst onto serverless."""
    table = Table(title=title)
    burst = any("serverless_pod_hours" in r for r in rows)
    extra = ("Serverless pod-h", "Cost USD") if burst else ()
    for column in (
        "Policy",
        "Replica-h",
        "vs hpa",
        "vs oracle",
        "Served",
        "Violation min",
        "Scale events",
        *extra,
    ):
        table.add_column(column, justify="left" if column == "Policy" else "right", no_wrap=True)
    by_name = {str(r["policy"]): r for r in rows}

    def versus(row: dict[str, Any], base: str) -> str:
        other = by_name.get(base)
        if other is None or not other["replica_hours"]:
            return "-"
        return f"{float(row['replica_hours']) / float(other['replica_hours']):.3f}x"

    for row in rows:
        table.add_row(
            str(row["policy"]),
            f"{float(row['replica_hours']):,.1f}",
            versus(row, "hpa"),
            versus(row, "oracle"),
            f"{100 * float(row['served_fraction']):.3f} %",
            f"{row['violation_minutes']:,}",
            f"{row['scale_events']:,}",
            *(
                (f"{row['serverless_pod_hours']:,.1f}", f"{row['cost_usd']:,.2f}")
                if "serverless_pod_hours" in row
                else ("-", "-")
                if burst
                else ()
            ),
        )
    return table


def autoscale_figure(
    start_unix_s: float,
    step_s: float,
    demand_replicas: np.ndarray,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    measured_from: int,
) -> go.Figure:
    """``series``: per policy, (replicas per step, served fraction per step)."""
    first = measured_from
    ax = axis(start_unix_s + first * step_s, step_s, len(demand_replicas) - first)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.04
    )
    demand = bucket_means(np.nan_to_num(demand_replicas[first:]), ax.factor)
    fig.add_trace(demand_area(ax, demand, "demand (replicas at target)"), row=1, col=1)
    for k, (name, (replicas, served)) in enumerate(series.items()):
        colour = POLICY_COLOURS[k % len(POLICY_COLOURS)]
        fig.add_trace(
            go.Scatter(
                x0=ax.x0,
                dx=ax.dx_ms,
                y=bucket_means(replicas[first:], ax.factor),
                name=name,
                mode="lines",
                line={"color": colour, "width": 1.2},
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        low = np.nan_to_num(served[first:], nan=1.0) < SERVED_OK
        hits = bucket_means(low.astype(float), ax.factor) > 0
        where = np.flatnonzero(hits)
        fig.add_trace(
            go.Scatter(
                x=[_at(ax.x0, ax.dx_ms, i) for i in where.tolist()],
                y=[name] * len(where),
                mode="markers",
                marker={"color": colour, "symbol": "line-ns-open", "size": 10},
                name=f"{name}: below 99.9 %",
                legendgroup=name,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    shown = min(len(demand_replicas) - first, int(SHOWN_S // step_s))
    fig.update_xaxes(range=[ax.x0, _at(ax.x0, step_s * 1000, shown)])
    fig.update_layout(
        title="Demand and replicas after the warm-up (first week shown; double-click the chart "
        "for all); marks: times below 99.9 % served",
        template="plotly_white",
        height=620,
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    fig.update_yaxes(title_text="replicas", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="violations", row=2, col=1)
    return fig


def _at(x0: str, dx_ms: float, index: int) -> str:
    base = np.datetime64(x0.replace(" ", "T"), "ms")
    return str(base + np.timedelta64(int(index * dx_ms), "ms")).replace("T", " ")


def write_autoscale_html(
    path: Path,
    title: str,
    table_rows: Sequence[dict[str, object]],
    figure: go.Figure,
    notes: str,
) -> None:
    head = "".join(f"<th>{escape(k)}</th>" for k in table_rows[0] if k != "decided_by")
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(str(v))}</td>" for k, v in row.items() if k != "decided_by")
        + "</tr>"
        for row in table_rows
    )
    table = f"<table><tr>{head}</tr>{body}</table>"
    write_chart_page(path, title, figure, table, lead_html=f'<p class="note">{escape(notes)}</p>')
