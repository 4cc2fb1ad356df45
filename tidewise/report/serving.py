"""Table and chart of ``tidewise bench serve``: requests, replicas and TTFT per policy.

Three panels sharing the time axis, per minute: the requests that arrived (grey area); each
policy's replicas (starting, Ready or draining); each policy's median (dotted) and
95th-percentile time to first token, on a log scale, with the objective as a dashed line
(minutes whose 95th percentile is above it violate).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from rich.table import Table

from tidewise.report.figures import POLICY_COLOURS, demand_area
from tidewise.report.page import write_chart_page
from tidewise.report.series import axis

COLUMNS = (
    ("Policy", "policy", "{}"),
    ("GPU-h", "gpu_hours", "{:,.2f}"),
    ("SLO min", "slo_attainment", "{:.2%}"),
    ("TTFT p50", "ttft_p50_s", "{:.2f} s"),
    ("p95", "ttft_p95_s", "{:.2f} s"),
    ("p99", "ttft_p99_s", "{:.2f} s"),
    ("TPOT p95", "tpot_p95_s", "{:.3f} s"),
    ("Served", "served", "{:,}"),
    ("Buffered", "buffered", "{:,}"),
    ("Cold starts", "cold_starts", "{:,}"),
    ("Min at zero", "replica_minutes_at_zero", "{:,.1f}"),
)


def _cell(row: dict[str, object], key: str, form: str) -> str:
    value = row.get(key)
    return "-" if value is None else form.format(value)


def serving_table(rows: Sequence[dict[str, object]], title: str) -> Table:
    table = Table(title=title)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="left" if header == "Policy" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(row, key, form) for _, key, form in COLUMNS))
    return table


def serving_figure(
    start_unix_s: float,
    arrivals: np.ndarray,
    replicas: dict[str, np.ndarray],
    ttft: dict[str, tuple[np.ndarray, np.ndarray]],
    objective_s: float,
) -> go.Figure:
    """Per-minute series; ``ttft`` holds each policy's median and 95th-percentile TTFT,
    NaN in minutes without requests."""
    ax = axis(start_unix_s, 60.0, len(arrivals), max_points=len(arrivals) + 1)
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.25, 0.35, 0.4], vertical_spacing=0.05
    )
    fig.add_trace(demand_area(ax, arrivals / 60.0, "requests/s"), row=1, col=1)
    for k, name in enumerate(replicas):
        colour = POLICY_COLOURS[k % len(POLICY_COLOURS)]
        fig.add_trace(
            go.Scatter(
                x0=ax.x0,
                dx=ax.dx_ms,
                y=replicas[name],
                name=name,
                mode="lines",
                line={"color": colour, "width": 1.4, "shape": "hv"},
                legendgroup=name,
            ),
            row=2,
            col=1,
        )
        for percentile, values, dash in zip(
            ("p50", "p95"), ttft[name], ("dot", "solid"), strict=True
        ):
            fig.add_trace(
                go.Scatter(
                    x0=ax.x0,
                    dx=ax.dx_ms,
                    y=values,
                    name=f"{name} TTFT {percentile}",
                    mode="lines",
                    line={"color": colour, "width": 1.0, "dash": dash},
                    legendgroup=name,
                    showlegend=False,
                ),
                row=3,
                col=1,
            )
    fig.add_hline(y=objective_s, line={"dash": "dash", "color": "#444"}, row=3, col=1)
    fig.update_layout(
        title="Requests, replicas and TTFT p50 (dotted) and p95 per minute (dashed: the objective)",
        template="plotly_white",
        height=720,
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    fig.update_yaxes(title_text="requests/s", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="replicas", row=2, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="TTFT (s)", type="log", row=3, col=1)
    return fig


def write_serving_html(
    path: Path,
    title: str,
    rows: Sequence[dict[str, object]],
    figure: go.Figure,
    notes: str,
) -> None:
    head = "".join(f"<th>{escape(header)}</th>" for header, _, _ in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(row, k, f))}</td>" for _, k, f in COLUMNS) + "</tr>"
        for row in rows
    )
    table = f"<table><tr>{head}</tr>{body}</table>"
    write_chart_page(path, title, figure, table, lead_html=f'<p class="note">{escape(notes)}</p>')
