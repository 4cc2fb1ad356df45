"""``tidewise plan``: plans from a demand history (what to commit to ahead of time)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from tidewise.capacity.commitments import CommitmentPlan, plan_commitment
from tidewise.catalog.pricing import DEFAULT_RESERVED, SECONDS_PER_HOUR, ReservedPricing
from tidewise.cli.errors import user_errors
from tidewise.cli.output import (
    STDOUT,
    Format,
    JsonOption,
    OutputOption,
    check_one_stdout,
    check_output_folders,
    note,
    print_document,
    show,
    write_json,
)

app = typer.Typer(
    help="Plans from a history: what to buy ahead.", no_args_is_help=True, add_completion=False
)


def hourly(values: np.ndarray, step_s: float) -> np.ndarray:
    """Hourly demand from a regular series: hourly means below an hour, repeats above it.

    A commitment is billed by the hour, so the planner needs one value per hour; a step of
    several whole hours holds its value through each of them. Hours with no observed step
    stay NaN (unobserved), so gaps never count as zero demand.
    """
    if step_s >= SECONDS_PER_HOUR:
        per_step = step_s / SECONDS_PER_HOUR
        if abs(per_step - round(per_step)) > 1e-9:
            raise ValueError(
                f"--history: rows are {step_s:g} s apart; give whole hours or less than an hour"
            )
        return np.repeat(values, round(per_step))
    bins = np.floor(np.arange(len(values)) * step_s / SECONDS_PER_HOUR).astype(np.int64)
    observed = ~np.isnan(values)
    sums = np.bincount(bins[observed], values[observed], minlength=bins[-1] + 1)
    counts = np.bincount(bins[observed], minlength=bins[-1] + 1)
    means = np.full(len(sums), np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means


@app.command("commitments")
def commitments(
    history: Annotated[Path, typer.Option(help="Demand CSV with a header (time, value).")],
    time_col: Annotated[
        str | None, typer.Option(help="Time column, ISO-8601 or Unix s (default: the first).")
    ] = None,
    value_col: Annotated[
        str | None,
        typer.Option(help="Demand column, in units (default: the first after the time)."),
    ] = None,
    on_demand_price: Annotated[
        float | None, typer.Option(help="On-demand USD per unit-hour (required).")
    ] = None,
    discount: Annotated[
        float, typer.Option(help="Commitment discount off on-demand, 0-1.")
    ] = DEFAULT_RESERVED.discount,
    unit: Annotated[str, typer.Option(help="What one unit of demand is, for the table.")] = "vcpu",
    whole: Annotated[bool, typer.Option("--whole", help="Commit whole units only.")] = False,
    json_path: JsonOption = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """How many units to commit to (reserved / savings plan), from an hourly demand history."""
    from tidewise.sim.rate_trace import TraceError, load_rate_trace

    with user_errors(ValueError, TraceError):
        if on_demand_price is None or on_demand_price <= 0:
            raise ValueError(
                f"--on-demand-price: give the on-demand USD per {unit}-hour, > 0 "
                "(e.g. 0.048 per vCPU of an m6i.xlarge in us-east-1)"
            )
        if not 0 <= discount < 1:
            raise ValueError("--discount: a fraction in [0, 1), e.g. 0.4 for 40 % off")
        check_output_folders({"--json": json_path}, inputs=[history])
        check_one_stdout(json_path, output)
        trace = load_rate_trace(history, time_col, value_col)
        demand = hourly(trace.values, trace.step_s)
        committed_price = ReservedPricing(discount).price_per_hour(on_demand_price)
        plan = plan_commitment(demand, on_demand_price, committed_price, whole_units=whole)
    resampled = "hourly means of" if trace.step_s < SECONDS_PER_HOUR else "each hour of"
    if not output.is_document and json_path != STDOUT:
        show(commitment_table(plan, unit, title=f"Commitment on {trace.name}"))
    note(
        f"{trace.name}, column {trace.value_column} as {unit}: {resampled} "
        f"{len(trace.values):,} steps of {trace.step_s:g} s, {plan.hours:,} observed hours; "
        f"on-demand {on_demand_price:g} USD per {unit}-hour, committed {committed_price:g} "
        f"({discount:.0%} off)."
    )
    document = {
        "plan": "commitments",
        "history": str(history),
        "value_column": trace.value_column,
        "step_s": trace.step_s,
        "unit": unit,
        "on_demand_price": on_demand_price,
        "discount": discount,
        "committed_price": committed_price,
        "whole_units": whole,
        **asdict(plan),
    }
    if output.is_document:
        print_document(document, output)
    write_json(json_path, document)


def commitment_table(plan: CommitmentPlan, unit: str, title: str) -> Table:
    table = Table(title=title)
    table.add_column("level")
    table.add_column("coverage", justify="right")
    table.add_column("utilisation", justify="right")
    table.add_column("cost with (USD)", justify="right")
    table.add_column("cost without (USD)", justify="right")
    table.add_column("saving (USD)", justify="right")
    table.add_row(
        f"{plan.level:.4g} {unit}",
        f"{plan.coverage:.1%}",
        f"{plan.utilisation:.1%}",
        f"{plan.total_cost:,.2f}",
        f"{plan.no_commitment_cost:,.2f}",
        f"{plan.saving:,.2f} ({plan.saving_fraction:.1%})",
    )
    if plan.reason:
        table.caption = plan.reason
    return table
