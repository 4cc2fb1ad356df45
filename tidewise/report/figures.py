"""The report's charts: demand against ready capacity, and cost over time.

Colours mean one thing across the page: each policy keeps its colour in every chart, each
purchase option keeps its colour in every cost panel, and demand is always the grey area.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tidewise.model.results import PURCHASE_OPTIONS, RunResult, SimReport, TimeSeries
from tidewise.report.series import Axis, axis, bucket_means, cumulative, zone_name
from tidewise.report.style import FIGURE_STYLE

POLICY_COLOURS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)
OPTION_COLOURS = {
    "on-demand": "#4c78a8",
    "spot": "#f58518",
    "reserved": "#54a24b",
    "serverless": "#b279a2",
}
OTHER_OPTION_COLOUR = "#9d755d"
DEMAND_COLOUR = "#9e9e9e"
SUBPLOT_COLUMNS = 3

_LAYOUT = {
    **FIGURE_STYLE,
    "hovermode": "x unified",
    "margin": {"l": 60, "r": 20, "t": 100, "b": 40},
}


def demand_area(ax: Axis, values: np.ndarray, name: str) -> go.Scatter:
    """Demand as the grey area every chart draws under the policies' lines."""
    return go.Scatter(
        x0=ax.x0,
        dx=ax.dx_ms,
        y=values,
        name=name,
        fill="tozeroy",
        mode="none",
        fillcolor=DEMAND_COLOUR,
        opacity=0.5,
    )


def traced_runs(report: SimReport) -> list[tuple[RunResult, TimeSeries]]:
    """Runs that recorded a time series; the others appear in the tables only."""
    return [(run, run.timeseries) for run in report.runs if run.timeseries is not None]


def policy_colours(report: SimReport) -> dict[str, str]:
    return {
        run.policy: POLICY_COLOURS[i % len(POLICY_COLOURS)] for i, run in enumerate(report.runs)
    }


def traced_workloads(report: SimReport) -> list[str]:
    """Workloads with a demand series, in the order the runs first name them."""
    names: dict[str, None] = {}
    for _, ts in traced_runs(report):
        names.update((name, None) for name in ts.demand_rps)
    return list(names)


def capacity_figure(report: SimReport, workload: str) -> go.Figure:
    """Demand as a grey area, ready capacity as one line per policy, unmet demand below.

    Capacity above the area is paid-for idle; capacity dipping into it is demand dropped,
    which the lower panel shows on its own scale because it is often small next to demand.
    """
    colours = policy_colours(report)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.72, 0.28],
        vertical_spacing=0.08,
        subplot_titles=("demand and ready capacity", "unmet demand (demand above capacity)"),
    )
    demand_drawn = False
    for run, ts in traced_runs(report):
        if workload not in ts.demand_rps:
            continue
        demand = np.asarray(ts.demand_rps[workload], dtype=np.float64)
        capacity = np.asarray(ts.capacity_rps.get(workload, ()), dtype=np.float64)
        n = min(demand.size, capacity.size) if capacity.size else demand.size
        ax = axis(ts.start_unix_s, ts.step_s, n, utc_offset_s=ts.utc_offset_s)
        where = {"x0": ax.x0, "dx": ax.dx_ms}
        if not demand_drawn:
            fig.add_trace(
                go.Scatter(
                    **where,
                    y=bucket_means(demand[:n], ax.factor),
                    name="demand",
                    fill="tozeroy",
                    mode="lines",
                    line={"color": DEMAND_COLOUR, "width": 0.5},
                    fillcolor=_rgba(DEMAND_COLOUR, 0.45),
                ),
                row=1,
                col=1,
            )
            demand_drawn = True
        if not capacity.size:
            continue
        colour = colours[run.policy]
        fig.add_trace(
            go.Scatter(
                **where,
                y=bucket_means(capacity[:n], ax.factor),
                name=run.policy,
                legendgroup=run.policy,
                mode="lines",
                line={"color": colour, "width": 1.6},
            ),
            row=1,
            col=1,
        )
        unmet = np.maximum(demand[:n] - capacity[:n], 0.0)
        fig.add_trace(
            go.Scatter(
                **where,
                y=bucket_means(unmet, ax.factor),
                name=run.policy,
                legendgroup=run.policy,
                showlegend=False,
                mode="lines",
                fill="tozeroy",
                line={"color": colour, "width": 1},
                fillcolor=_rgba(colour, 0.25),
            ),
            row=2,
            col=1,
        )
    _frame(fig, workload, height=500)
    fig.update_yaxes(title_text="rps", rangemode="tozero", hoverformat=",.1f")
    fig.update_xaxes(title_text=clock(report), row=2, col=1)
    return fig


def cost_rate_figure(report: SimReport) -> go.Figure:
    """One panel per policy, cost rate stacked by purchase option on a shared scale.

    Rates in USD/hour, not USD per step, so the panels read the same whatever the step.
    """
    runs = traced_runs(report)
    options = _spent_options([ts for _, ts in runs])
    cols = max(1, min(SUBPLOT_COLUMNS, len(runs)))
    rows = max(1, math.ceil(len(runs) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes="all",
        shared_yaxes="all",
        subplot_titles=[run.policy for run, _ in runs],
        horizontal_spacing=0.03,
        vertical_spacing=0.12,
    )
    in_legend: set[str] = set()
    for i, (_run, ts) in enumerate(runs):
        n = max((len(c) for c in ts.cost_usd.values()), default=0)
        # an option this policy never bought may be absent from its series: it costs zero
        cost = {
            opt: np.asarray(ts.cost_usd.get(opt, np.zeros(n)), dtype=np.float64) for opt in options
        }
        ax = axis(ts.start_unix_s, ts.step_s, n, utc_offset_s=ts.utc_offset_s)
        for opt in options:
            rate = cost[opt] / ts.step_s * 3600.0
            colour = OPTION_COLOURS.get(opt, OTHER_OPTION_COLOUR)
            fig.add_trace(
                go.Scatter(
                    x0=ax.x0,
                    dx=ax.dx_ms,
                    y=bucket_means(rate, ax.factor),
                    name=opt,
                    legendgroup=opt,
                    showlegend=opt not in in_legend,
                    stackgroup=f"policy{i}",
                    mode="lines",
                    line={"color": colour, "width": 0},
                    fillcolor=colour,
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
            in_legend.add(opt)
    _frame(fig, "cost rate by purchase option", height=100 + 300 * rows)
    fig.update_yaxes(rangemode="tozero", hoverformat=",.2f")
    fig.update_yaxes(title_text="USD/h", col=1)
    return fig


def cumulative_cost_figure(report: SimReport) -> go.Figure:
    """Money spent so far, one line per policy: where lines part is where policies differ."""
    colours = policy_colours(report)
    fig = go.Figure()
    for run, ts in traced_runs(report):
        if not ts.cost_usd:
            continue
        per_step = np.sum([np.asarray(c, dtype=np.float64) for c in ts.cost_usd.values()], axis=0)
        ax = axis(ts.start_unix_s, ts.step_s, per_step.size, utc_offset_s=ts.utc_offset_s)
        fig.add_trace(
            go.Scatter(
                x0=ax.x0,
                dx=ax.dx_ms,
                y=cumulative(per_step, ax.factor),
                name=run.policy,
                mode="lines",
                line={"color": colours[run.policy], "width": 2},
            )
        )
    _frame(fig, "cumulative cost", height=380, top=72)
    fig.update_yaxes(title_text="USD", rangemode="tozero", hoverformat="$,.2f")
    fig.update_xaxes(title_text=clock(report))
    return fig


def fragmentation_figure(report: SimReport) -> go.Figure | None:
    """Idle GPU no expected pod can use, over time, per policy; ``None`` if never sampled."""
    colours = policy_colours(report)
    fig = go.Figure()
    for run, ts in traced_runs(report):
        if not ts.gpu_fragment_pct:
            continue
        ax = axis(
            ts.start_unix_s,
            ts.gpu_fragment_step_s,
            len(ts.gpu_fragment_pct),
            utc_offset_s=ts.utc_offset_s,
        )
        fig.add_trace(
            go.Scatter(
                x0=ax.x0,
                dx=ax.dx_ms,
                y=bucket_means(np.asarray(ts.gpu_fragment_pct), ax.factor),
                name=run.policy,
                mode="lines",
                line={"color": colours[run.policy], "width": 1.6},
            )
        )
    if not fig.data:
        return None
    _frame(fig, "fragmented GPUs", height=340, top=72)
    fig.update_yaxes(title_text="% of GPUs", rangemode="tozero", hoverformat=".2f")
    fig.update_xaxes(title_text=clock(report))
    return fig


def clock(report: SimReport) -> str:
    """The time zone every chart of the report is drawn in: the scenario's (its traces'
    start offset), as a person there reads the peaks."""
    traced = traced_runs(report)
    return zone_name(traced[0][1].utc_offset_s if traced else 0.0)


def _frame(fig: go.Figure, title: str, height: int, top: int = 100) -> None:
    """Title, then legend, then subplot titles, each on its own line of the top margin.

    Placed in pixels from the top (``yref="container"``) so they never overlap, whatever
    the figure's height or number of panels; ``top`` is smaller without subplot titles.
    """
    fig.update_layout(
        _LAYOUT,
        height=height,
        margin={"t": top},
        title={
            "text": f"<b>{title}</b>",
            "yref": "container",
            "y": 1 - 10 / height,
            "yanchor": "top",
            "x": 0,
            "xref": "paper",
        },
        legend={
            "orientation": "h",
            "yref": "container",
            "y": 1 - 38 / height,
            "yanchor": "top",
            "x": 0,
            "xanchor": "left",
        },
    )


def _spent_options(series: list[TimeSeries]) -> list[str]:
    """Options with any cost, canonical ones first: zero layers only clutter the legend."""
    spent = {opt for ts in series for opt, c in ts.cost_usd.items() if any(x > 0 for x in c)}
    return [o for o in PURCHASE_OPTIONS if o in spent] + sorted(spent - set(PURCHASE_OPTIONS))


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
