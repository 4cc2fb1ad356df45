"""The ``tidewise`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from tidewise.capacity.commitments import CommitmentPlan, plan_commitment
from tidewise.catalog.pricing import DEFAULT_RESERVED, SECONDS_PER_HOUR, ReservedPricing
from tidewise.fleet_cli import fleet_app
from tidewise.job_cli import job_app, parse_queue, queue_app
from tidewise.sim.policies import POLICIES
from tidewise.sim.runner import attribution, prepare, run
from tidewise.sim.scenario import ScenarioError, load_scenario
from tidewise.traffic_cli import traffic_app

if TYPE_CHECKING:
    from lightkube import AsyncClient, KubeConfig

    from tidewise.kube.provider import Provisioner

app = typer.Typer(
    help="tidewise: elasticity and cost control for Kubernetes fleets that run AI products.",
    no_args_is_help=True,
    add_completion=False,
)
DEFAULT_SCENARIO = "nasa-week.yaml"
DEFAULT_FORECASTER = "holt-winters"


def default_scenario_path() -> Path:
    return Path(str(resources.files("tidewise.scenarios").joinpath(DEFAULT_SCENARIO)))


def progress_bar(done: str) -> Progress:
    """One bar per policy on stderr, so stdout stays clean for tables and pipes."""
    return Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn(done),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def check_output_folders(outputs: dict[str, Path | None]) -> None:
    """Refuse before any work when a file the user asked for could not be written."""
    for option, out in outputs.items():
        if out is not None and not out.parent.is_dir():
            raise ValueError(
                f"{option}: folder {out.parent} does not exist; create it or pick another"
            )


def fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@app.command()
def sim(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario YAML (default: the bundled one-week NASA scenario)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
) -> None:
    """Replay a scenario under each of its policies and compare cost and service."""
    from tidewise.report import render_table, write_atomically, write_html

    path = scenario or default_scenario_path()
    try:
        check_output_folders({"--json": json_path, "--report": report})
        parsed, base = load_scenario(path)
        prepared = prepare(parsed, base)
    except (ScenarioError, ValueError) as err:
        raise fail(str(err)) from None
    console = Console()
    if quiet:
        result = run(prepared)
    else:
        with progress_bar("{task.percentage:>3.0f}% of the simulated horizon") as bar:
            tasks: dict[str, TaskID] = {
                name: bar.add_task(name, total=1.0) for name in parsed.policies
            }

            def progress(name: str, fraction: float) -> None:
                bar.update(tasks[name], completed=fraction)

            result = run(prepared, progress)
        render_table(result, console)
    if json_path is not None:
        write_atomically(json_path, json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    if report is not None:
        write_html(result, report, attribution=attribution(parsed))
        if not quiet:
            console.print(f"report written to [bold]{report}[/]")


bench_app = typer.Typer(help="Benchmarks on published traces.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def parse_seeds(text: str) -> list[int]:
    """``42-51`` or ``42,45,50`` to a list of seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            seeds.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError("--seeds: give a range like 42-51 or a list like 42,43") from None
    if not seeds:
        raise ValueError("--seeds: give at least one seed, e.g. 42-51")
    return seeds


@bench_app.command("gpu-pack")
def gpu_pack(
    nodes: Annotated[Path, typer.Option(help="openb node list CSV (sn,cpu_milli,...,gpu,model).")],
    pods: Annotated[Path, typer.Option(help="openb pod list CSV (name,cpu_milli,...).")],
    policy: Annotated[
        list[str] | None, typer.Option(help="Policy to run; repeat for several (default: all).")
    ] = None,
    tune: Annotated[float, typer.Option(help="GPU requests as a multiple of cluster GPUs.")] = 1.3,
    seeds: Annotated[str, typer.Option(help="Seeds: 42-51 or 42,43.")] = "42-51",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML plot of allocation here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
) -> None:
    """GPU-sharing placement on Alibaba's openb trace, as the FGD paper (USENIX ATC'23)."""
    from tidewise.report import gpu_pack_table, write_atomically, write_gpu_pack_html
    from tidewise.sim.gpupack import GPU_POLICIES, run_benchmark
    from tidewise.sim.openb import TraceFormatError, load_nodes, load_pods

    names = policy or list(GPU_POLICIES)
    try:
        unknown = [n for n in names if n not in GPU_POLICIES]
        if unknown:
            raise ValueError(
                f"--policy: unknown {', '.join(unknown)}; known: {', '.join(GPU_POLICIES)}"
            )
        if tune <= 0:
            raise ValueError("--tune: give a positive multiple of cluster GPUs, e.g. 1.3")
        seed_list = parse_seeds(seeds)
        check_output_folders({"--json": json_path, "--report": report})
        node_specs = load_nodes(nodes)
        pod_shapes = load_pods(pods)
    except (ValueError, TraceFormatError) as err:
        raise fail(str(err)) from None
    workload = pods.stem
    if quiet:
        results = run_benchmark(node_specs, pod_shapes, workload, names, seed_list, tune)
    else:
        with progress_bar("{task.completed}/{task.total} seeds") as bar:
            tasks = {n: bar.add_task(n, total=len(seed_list)) for n in names}
            results = run_benchmark(
                node_specs,
                pod_shapes,
                workload,
                names,
                seed_list,
                tune,
                lambda name, _seed: bar.advance(tasks[name]),
            )
        Console().print(gpu_pack_table(results))
    document = {
        "benchmark": "gpu-pack",
        "nodes": str(nodes),
        "pods": str(pods),
        "tune": tune,
        "runs": [r.model_dump(mode="json") for r in results],
    }
    if json_path is not None:
        write_atomically(json_path, json.dumps(document, indent=2) + "\n")
    if report is not None:
        write_gpu_pack_html(results, report, title=f"GPU packing on {workload}")


@bench_app.command("autoscale")
def autoscale(
    trace: Annotated[Path, typer.Option(help="Request-rate CSV with a header (time, value).")],
    time_col: Annotated[
        str | None, typer.Option(help="Time column, ISO-8601 or Unix s (default: the first).")
    ] = None,
    value_col: Annotated[
        str | None,
        typer.Option(help="Load column (default: the first after the time that is not a time)."),
    ] = None,
    policy: Annotated[
        list[str] | None, typer.Option(help="Policy to run; repeat for several (default: all).")
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option(help="Load one replica serves at 100 % CPU (default: the load's P95 / 20)."),
    ] = None,
    startup: Annotated[float, typer.Option(help="Seconds from pod creation to Ready.")] = 60.0,
    period: Annotated[float, typer.Option(help="Seconds between scaling decisions.")] = 15.0,
    target_utilization: Annotated[
        float, typer.Option(help="CPU utilisation the HPA aims at, 0-1.")
    ] = 0.7,
    min_replicas: Annotated[int, typer.Option(help="minReplicas.")] = 1,
    max_replicas: Annotated[int, typer.Option(help="maxReplicas.")] = 1000,
    warmup_days: Annotated[
        float, typer.Option(help="Days the forecasters learn from; measured after them.")
    ] = 14.0,
    margin: Annotated[
        float, typer.Option(help="Seconds of forecast beyond the start-up time.")
    ] = 120.0,
    forecaster: Annotated[
        str, typer.Option(help="Forecaster of the predictive rule.")
    ] = DEFAULT_FORECASTER,
    time_zone: Annotated[
        str, typer.Option(help="IANA zone the cron schedule is learnt and run in.")
    ] = "UTC",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML chart of the replay here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
) -> None:
    """Replica policies on one service replaying a request-rate trace, side by side."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from tidewise.report.autoscale import autoscale_figure, autoscale_table, write_autoscale_html
    from tidewise.report.files import write_atomically
    from tidewise.scaling.forecast import forecaster_named
    from tidewise.sim.autoscale_bench import (
        AUTOSCALE_POLICIES,
        AutoscaleSettings,
        demand_replicas,
        run_autoscale,
    )
    from tidewise.sim.rate_trace import load_rate_trace
    from tidewise.sim.traces import TraceError

    names = policy or list(AUTOSCALE_POLICIES)
    try:
        unknown = [n for n in names if n not in AUTOSCALE_POLICIES]
        if unknown:
            raise ValueError(
                f"--policy: unknown {', '.join(unknown)}; known: {', '.join(AUTOSCALE_POLICIES)}"
            )
        try:
            forecaster_named(forecaster)
        except ValueError as err:
            raise ValueError(f"--forecaster: {err}") from None
        if capacity is not None and capacity <= 0:
            raise ValueError("--capacity: give the load one replica serves, > 0")
        if not 0 < target_utilization <= 1:
            raise ValueError("--target-utilization: a fraction in (0, 1], e.g. 0.7")
        if startup < 0 or period <= 0 or margin < 0 or warmup_days < 0:
            raise ValueError("--startup, --margin and --warmup-days >= 0; --period > 0")
        if not 0 <= min_replicas <= max_replicas:
            raise ValueError("--min-replicas and --max-replicas: 0 <= min <= max")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"--time-zone: '{time_zone}' is not an IANA zone") from None
        check_output_folders({"--json": json_path, "--report": report})
        rates = load_rate_trace(trace, time_col, value_col)
        settings = AutoscaleSettings(
            replica_capacity=capacity,
            startup_s=startup,
            period_s=period,
            target_utilization=target_utilization,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            warmup_days=warmup_days,
            margin_s=margin,
            forecaster=forecaster,
            time_zone=time_zone,
        )
        if quiet:
            service, results = run_autoscale(rates, settings, names)
        else:
            with progress_bar("{task.percentage:>3.0f}%") as bar:
                tasks = {n: bar.add_task(n, total=rates.duration_s) for n in names}
                service, results = run_autoscale(
                    rates, settings, names, lambda n, t: bar.update(tasks[n], completed=t)
                )
    except (ValueError, TraceError) as err:
        raise fail(str(err)) from None
    rows = [r.summary() for r in results]
    measured = int(settings.warmup_s // rates.step_s)
    notes = (
        f"{rates.name}, column {rates.value_column}: {len(rates.values):,} steps of "
        f"{rates.step_s:g} s; replica capacity {service.replica_capacity:.4g} at 100 % CPU, "
        f"target {service.target_utilization:.0%}, start-up {service.startup_s:g} s; measured "
        f"after a {settings.warmup_days:g}-day warm-up ({rates.observed[measured:].sum():,} "
        "observed steps)."
    )
    if not quiet:
        Console().print(autoscale_table(rows, title=f"Autoscaling on {rates.name}"))
        Console(stderr=True).print(notes, highlight=False)
    document = {
        "benchmark": "autoscale",
        "trace": str(trace),
        "value_column": rates.value_column,
        "step_s": rates.step_s,
        "warmup_s": settings.warmup_s,
        "service": {
            "replica_capacity": service.replica_capacity,
            "startup_s": service.startup_s,
            "target_utilization": service.target_utilization,
            "min_replicas": service.min_replicas,
            "max_replicas": service.max_replicas,
        },
        "period_s": settings.period_s,
        "forecaster": settings.forecaster,
        "time_zone": settings.time_zone,
        "policies": rows,
    }
    if json_path is not None:
        write_atomically(json_path, json.dumps(document, indent=2) + "\n")
    if report is not None:
        figure = autoscale_figure(
            rates.start_unix_s,
            rates.step_s,
            demand_replicas(rates, service),
            {r.policy: (r.replicas, r.served) for r in results},
            measured,
        )
        write_autoscale_html(report, f"Autoscaling on {rates.name}", rows, figure, notes)


@bench_app.command("serve")
def serve_bench(
    trace: Annotated[
        Path, typer.Option(help="LLM request trace (Azure format) or a request-rate CSV.")
    ],
    model: Annotated[str, typer.Option(help="Model, e.g. llama-2-70b.")],
    gpu: Annotated[str, typer.Option(help="GPU type, e.g. h100.")],
    share: Annotated[float, typer.Option(help="Run each replica on this share of a GPU.")] = 1.0,
    policies: Annotated[
        str | None, typer.Option(help="Comma-separated policies (default: all four).")
    ] = None,
    tokens: Annotated[
        Path | None, typer.Option(help="Rate traces: request trace to draw token counts from.")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Rate traces: window start, ISO-8601 or Unix s.")
    ] = None,
    hours: Annotated[float, typer.Option(help="Rate traces: hours to replay.")] = 24.0,
    peak_rps: Annotated[
        float, typer.Option(help="Rate traces: requests/s of the busiest step.")
    ] = 8.0,
    history_days: Annotated[
        int, typer.Option(help="Rate traces: days before the window kept as history.")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Rate traces: seed of the drawn requests.")] = 0,
    ttft: Annotated[float, typer.Option(help="Objective: time to first token, s.")] = 2.0,
    tpot: Annotated[
        float | None, typer.Option(help="Objective: time per output token, s (optional).")
    ] = None,
    attainment: Annotated[
        float, typer.Option(help="Objective: share of minutes that must meet it.")
    ] = 0.99,
    knob: Annotated[
        list[str] | None, typer.Option(help="POLICY=VALUE: a policy's main knob; repeat.")
    ] = None,
    floor: Annotated[
        list[str] | None, typer.Option(help="POLICY=N: a policy's minimum replicas; repeat.")
    ] = None,
    max_replicas: Annotated[int, typer.Option(help="Most replicas any policy may run.")] = 64,
    step: Annotated[float, typer.Option(help="Simulation step, s.")] = 0.25,
    node_boot: Annotated[float | None, typer.Option(help="Override: node boot, s.")] = None,
    image_pull: Annotated[float | None, typer.Option(help="Override: image pull, s.")] = None,
    model_load: Annotated[float | None, typer.Option(help="Override: model load, s.")] = None,
    node_linger: Annotated[
        float, typer.Option(help="Seconds a freed node stays (billed) for reuse.")
    ] = 30.0,
    forecaster: Annotated[
        str, typer.Option(help="tidewise's forecaster when there is a day of history.")
    ] = "seasonal-naive",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML chart of the replay here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
) -> None:
    """Serving policies on one LLM service replaying a request trace, side by side."""
    from tidewise.report.files import write_atomically
    from tidewise.report.serving import serving_figure, serving_table, write_serving_html
    from tidewise.sim.serving import bench
    from tidewise.sim.serving.profiles import ProfileError
    from tidewise.sim.traces import TraceError

    try:
        check_output_folders({"--json": json_path, "--report": report})
        names, workload, server, settings = bench.prepare(
            trace=trace, model=model, gpu=gpu, share=share, policies=policies, tokens=tokens,
            start=start, hours=hours, peak_rps=peak_rps, history_days=history_days, seed=seed,
            ttft=ttft, tpot=tpot, attainment=attainment, knobs=knob or [], floors=floor or [],
            max_replicas=max_replicas, step=step, node_boot=node_boot, image_pull=image_pull,
            model_load=model_load, node_linger=node_linger, forecaster=forecaster,
        )  # fmt: skip
        if quiet:
            runs = bench.run_serving(workload.requests, server, settings, names)
        else:
            with progress_bar("{task.percentage:>3.0f}%") as bar:
                tasks = {n: bar.add_task(n, total=workload.requests.duration_s) for n in names}
                update = lambda n, t: bar.update(tasks[n], completed=t)  # noqa: E731
                runs = bench.run_serving(workload.requests, server, settings, names, update)
    except (ValueError, TraceError, ProfileError) as err:
        raise fail(str(err)) from None
    doc = bench.document(workload, server, settings, runs)
    rows: list[dict[str, object]] = doc["policies"]  # type: ignore[assignment]
    title = f"Serving {server.name} on {trace.name}"
    notes = bench.notes(workload, settings.objective)
    if not quiet:
        Console().print(serving_table(rows, title))
        Console(stderr=True).print(notes, highlight=False)
    if json_path is not None:
        write_atomically(json_path, json.dumps(doc, indent=2) + "\n")
    if report is not None:
        figure = serving_figure(*bench.chart_series(workload, runs, settings.objective))
        write_serving_html(report, title, rows, figure, notes)


plan_app = typer.Typer(help="Plans from a history: what to buy ahead.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


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


@plan_app.command("commitments")
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
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the plan here.")] = None,
) -> None:
    """How many units to commit to (reserved / savings plan), from an hourly demand history."""
    from tidewise.report.files import write_atomically
    from tidewise.sim.rate_trace import load_rate_trace
    from tidewise.sim.traces import TraceError

    try:
        if on_demand_price is None or on_demand_price <= 0:
            raise ValueError(
                f"--on-demand-price: give the on-demand USD per {unit}-hour, > 0 "
                "(e.g. 0.048 per vCPU of an m6i.xlarge in us-east-1)"
            )
        if not 0 <= discount < 1:
            raise ValueError("--discount: a fraction in [0, 1), e.g. 0.4 for 40 % off")
        check_output_folders({"--json": json_path})
        trace = load_rate_trace(history, time_col, value_col)
        demand = hourly(trace.values, trace.step_s)
        committed_price = ReservedPricing(discount).price_per_hour(on_demand_price)
        plan = plan_commitment(demand, on_demand_price, committed_price, whole_units=whole)
    except (ValueError, TraceError) as err:
        raise fail(str(err)) from None
    resampled = "hourly means of" if trace.step_s < SECONDS_PER_HOUR else "each hour of"
    notes = (
        f"{trace.name}, column {trace.value_column} as {unit}: {resampled} "
        f"{len(trace.values):,} steps of {trace.step_s:g} s, {plan.hours:,} observed hours; "
        f"on-demand {on_demand_price:g} USD per {unit}-hour, committed {committed_price:g} "
        f"({discount:.0%} off)."
    )
    Console().print(commitment_table(plan, unit, title=f"Commitment on {trace.name}"))
    Console(stderr=True).print(notes, highlight=False)
    if json_path is not None:
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
        write_atomically(json_path, json.dumps(document, indent=2) + "\n")


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


@bench_app.command("queue")
def queue_bench(
    jobs: Annotated[Path, typer.Option(help="Job trace CSV (the Philly-derived format).")],
    gpus: Annotated[int, typer.Option(help="GPUs of the fixed pool; most of the elastic one.")],
    policy: Annotated[
        list[str] | None,
        typer.Option(
            help="fifo, best-effort-fifo, easy, tidewise-blind or tidewise; repeat (default: all)."
        ),
    ] = None,
    start: Annotated[float, typer.Option(help="Window start, hours into the trace.")] = 1176.0,
    hours: Annotated[float, typer.Option(help="Hours of arrivals to replay.")] = 168.0,
    load: Annotated[
        float,
        typer.Option(help="Thin the window to this GPU-time over the pool's (unless --sample)."),
    ] = 0.95,
    sample: Annotated[
        int | None,
        typer.Option(help="Keep one job in this many instead of --load (12: the 1.65x overload)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Which jobs --load keeps; spot interruptions.")] = 0,
    overestimate: Annotated[
        float, typer.Option(help="Run-time estimates are run time x (1 + this x U[0,1)).")
    ] = 0.0,
    max_gpus: Annotated[
        int | None, typer.Option(help="Drop jobs wider than this (default: a quarter of --gpus).")
    ] = None,
    checkpointable: Annotated[
        float, typer.Option(help="Share of jobs taken to checkpoint (the trace does not say).")
    ] = 0.5,
    datasets: Annotated[int, typer.Option(help="Jobs read one of this many datasets.")] = 0,
    age_hours: Annotated[float, typer.Option(help="tidewise: aging bound, hours.")] = 6.0,
    starvation_hours: Annotated[
        float, typer.Option(help="A job waiting longer counts as starved.")
    ] = 24.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Queue policies replaying a job trace on a fixed GPU pool and on an elastic one."""
    from tidewise.report.files import write_atomically
    from tidewise.sim.job_trace import JobTraceError, TraceWindow
    from tidewise.sim.queue_bench import POLICIES, QueueBenchSettings, load_and_run

    names = tuple(policy or POLICIES)
    try:
        unknown = [n for n in names if n not in POLICIES]
        if unknown:
            known = ", ".join(POLICIES)
            raise ValueError(f"--policy: unknown {', '.join(unknown)}; known: {known}")
        if gpus < 8 or gpus % 8:
            raise ValueError("--gpus: a multiple of 8 (whole 8-GPU nodes), e.g. 64")
        if hours <= 0 or (sample or 1) < 1 or age_hours < 0 or starvation_hours <= 0:
            raise ValueError("--hours > 0, --sample >= 1, --age-hours >= 0, --starvation-hours > 0")
        if load <= 0 or overestimate < 0:
            raise ValueError("--load > 0 (e.g. 0.95) and --overestimate >= 0")
        if not 0 <= checkpointable <= 1:
            raise ValueError("--checkpointable: a share in [0, 1], e.g. 0.5")
        check_output_folders({"--json": json_path})
        window = TraceWindow(
            start * 3600, hours, sample or 1, max_gpus or gpus // 4, checkpointable, datasets
        )
        settings = QueueBenchSettings(
            gpus,
            window,
            names,
            age_hours * 3600,
            starvation_hours * 3600,
            seed,
            None if sample else load,
            overestimate,
        )
        document, _ = load_and_run(jobs, settings)
    except (ValueError, JobTraceError) as err:
        raise fail(str(err)) from None
    text = json.dumps(document, indent=2) + "\n"
    sys.stdout.write(text)
    if json_path is not None:
        write_atomically(json_path, text)


app.add_typer(job_app, name="job")
app.add_typer(queue_app, name="queue")
fleet_app.add_typer(traffic_app)  # one `fleet` group: plan and sync, then shift, watch, ...
app.add_typer(fleet_app, name="fleet")


@app.command()
def policies() -> None:
    """List the policies a scenario can compare."""
    for name, (summary, _) in POLICIES.items():
        sys.stdout.write(f"{name:<18} {summary}\n")


testenv_app = typer.Typer(
    help="A real control plane on loopback (etcd, apiserver, controllers, scheduler, kwok).",
    no_args_is_help=True,
)
app.add_typer(testenv_app, name="testenv")
TestenvFolder = Annotated[
    Path, typer.Option("--dir", help="Folder that holds the cluster's keys, data and logs.")
]
DEFAULT_TESTENV = Path(".testenv")


def testenv_progress(line: str) -> None:
    """Progress on stderr, so ``up`` can print the kubeconfig path alone on stdout."""
    Console(stderr=True).print(f"[dim]testenv:[/] {line}", highlight=False)


@contextmanager
def testenv_errors() -> Iterator[None]:
    """A failed build or a missing cluster is one line and exit code 2, not a traceback."""
    from tidewise.kube.testenv import BuildError, ClusterError

    try:
        yield
    except (BuildError, ClusterError) as error:
        raise fail(str(error)) from None


@testenv_app.command("build")
def testenv_build() -> None:
    """Build the control-plane binaries for the pinned versions (once; then cached)."""
    from tidewise.kube.testenv import ensure_binaries

    with testenv_errors():
        sys.stdout.write(f"{ensure_binaries(testenv_progress).folder}\n")


@testenv_app.command("up")
def testenv_up(
    folder: TestenvFolder = DEFAULT_TESTENV,
    extender: Annotated[
        str | None,
        typer.Option(
            help="URL of a GPU-share extender (`tidewise extender serve`) for the scheduler "
            "to call, e.g. http://127.0.0.1:8888."
        ),
    ] = None,
) -> None:
    """Start a throw-away cluster (building it first if needed); prints its kubeconfig."""
    from tidewise.kube.extender.config import extender_stanza
    from tidewise.kube.testenv import ensure_binaries, up

    extenders = [extender_stanza(extender)] if extender else None
    with testenv_errors():
        cluster = up(folder, ensure_binaries(testenv_progress), testenv_progress, extenders)
    sys.stdout.write(f"{cluster.kubeconfig}\n")


@testenv_app.command("down")
def testenv_down(folder: TestenvFolder = DEFAULT_TESTENV) -> None:
    """Stop the cluster in the folder (its data and logs stay until the next ``up``)."""
    from tidewise.kube.testenv import down

    with testenv_errors():
        stopped = down(folder)
    testenv_progress(f"stopped {', '.join(stopped) or 'nothing (it was not running)'}")


@testenv_app.command("status")
def testenv_status(folder: TestenvFolder = DEFAULT_TESTENV) -> None:
    """Each component's health; exit code 1 unless all are ok."""
    from tidewise.kube.testenv import status

    with testenv_errors():
        health = status(folder)
    for name, answer in health.items():
        sys.stdout.write(f"{name:<24} {answer}\n")
    if any(answer != "ok" for answer in health.values()):
        raise typer.Exit(code=1)


KubeconfigOption = Annotated[
    Path | None,
    typer.Option(help="Kubeconfig to reach the API server; default: in-cluster or ~/.kube."),
]


def kube_service(kubeconfig: Path | None) -> KubeConfig:
    """Log as a long-running service does (without a line per API request), and the
    kubeconfig to reach the API server with."""
    import logging

    from lightkube import KubeConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()


extender_app = typer.Typer(
    help="The GPU-share scheduler extender kube-scheduler calls (docs/kubernetes.md).",
    no_args_is_help=True,
)
app.add_typer(extender_app, name="extender")


@extender_app.command("serve")
def extender_serve(
    kubeconfig: KubeconfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8888,
) -> None:
    """Serve filter, prioritize and bind until interrupted."""
    import asyncio
    import contextlib

    from lightkube import AsyncClient

    from tidewise.kube.extender.server import serve

    config = kube_service(kubeconfig)
    client = AsyncClient(config, field_manager="tidewise-extender")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(client, host, port))


provisioner_app = typer.Typer(
    help="Node provisioning through a provider (docs/kubernetes.md).", no_args_is_help=True
)
app.add_typer(provisioner_app, name="provisioner")


InstanceTypesOption = Annotated[
    str | None, typer.Option(help="Comma-separated instance types it may buy; default all.")
]
BootDelayOption = Annotated[float, typer.Option(help="Seconds a kwok node takes to boot.")]
PeriodOption = Annotated[float, typer.Option(help="Seconds between rounds.")]
UnneededOption = Annotated[
    float, typer.Option(help="Seconds a node stays under-used before it is removed.")
]
DelayAfterAddOption = Annotated[
    float, typer.Option(help="Seconds after a scale-up before any scale-down.")
]


def kwok_provisioner(
    instance_types: str | None,
    boot_delay: float,
    period: float,
    unneeded: float,
    delay_after_add: float,
) -> Callable[[AsyncClient], Provisioner]:
    """What builds the provisioner both ``provisioner run`` and ``operator`` run: kwok nodes,
    on-demand or spot, the node autoscaler and the interruption handler."""
    from tidewise.capacity import NodeAutoscaler, NodeAutoscalerSettings
    from tidewise.capacity.interruptions import InterruptionHandler
    from tidewise.catalog import builtin_catalog_path, load_catalog
    from tidewise.kube.provider import KwokProvider, Provisioner
    from tidewise.model import PurchaseOption

    options = frozenset({PurchaseOption.ON_DEMAND, PurchaseOption.SPOT})
    types = instance_types.split(",") if instance_types else None
    try:
        catalog = load_catalog(
            builtin_catalog_path("aws-us-east-1"), provider="aws", instance_types=types
        )
    except ValueError as error:
        raise fail(str(error)) from None
    offerings = [o for o in catalog.offerings if o.option in options]
    settings = NodeAutoscalerSettings(
        period_s=period, unneeded_s=unneeded, delay_after_add_s=delay_after_add
    )

    def make(client: AsyncClient) -> Provisioner:
        provider = KwokProvider(client, offerings, boot_delay_s=boot_delay)
        policy = NodeAutoscaler(options, settings)
        interruptions = InterruptionHandler(options, period_s=period)
        return Provisioner(client, provider, policy, offerings, interruptions=interruptions)

    return make


@provisioner_app.command("run")
def provisioner_run(
    kubeconfig: KubeconfigOption = None,
    instance_types: InstanceTypesOption = None,
    boot_delay: BootDelayOption = 5.0,
    period: PeriodOption = 10.0,
    unneeded: UnneededOption = 600.0,
    delay_after_add: DelayAfterAddOption = 600.0,
) -> None:
    """Buy kwok nodes (on-demand or spot, the cheapest that fit) for unschedulable pods, drain
    the under-used ones, and replace then drain nodes with an interruption notice, until
    interrupted."""
    import asyncio
    import contextlib

    from lightkube import AsyncClient

    make = kwok_provisioner(instance_types, boot_delay, period, unneeded, delay_after_add)
    config = kube_service(kubeconfig)

    async def run() -> None:
        client = AsyncClient(config, field_manager="tidewise-provisioner")
        await make(client).run(period)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command()
def operator(
    kubeconfig: KubeconfigOption = None,
    health_host: Annotated[str, typer.Option(help="Address of /healthz and /metrics.")] = "0.0.0.0",
    health_port: Annotated[int, typer.Option(help="Port of /healthz and /metrics.")] = 8080,
    lease_namespace: Annotated[
        str, typer.Option(help="Namespace of the leader-election Lease.")
    ] = "tidewise-system",
    identity: Annotated[
        str | None, typer.Option(help="Holder identity in the Lease; default: host name-pid.")
    ] = None,
    lease_duration: Annotated[
        int, typer.Option(help="Seconds before a Lease not renewed may be taken over.")
    ] = 15,
    instance_types: InstanceTypesOption = None,
    boot_delay: BootDelayOption = 5.0,
    period: PeriodOption = 10.0,
    unneeded: UnneededOption = 600.0,
    delay_after_add: DelayAfterAddOption = 600.0,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Prometheus for ElasticScaler queries (objects may name their own)."),
    ] = None,
    cron_period: Annotated[
        float, typer.Option(help="Seconds between CronHPA re-listings (jobs fire on time).")
    ] = 1.0,
    elastic_period: Annotated[
        float, typer.Option(help="Seconds between ElasticScaler syncs (the HPA's period).")
    ] = 15.0,
    recommend_period: Annotated[
        float,
        typer.Option(help="Seconds between ResourceRecommendation usage samples (VPA's 60)."),
    ] = 60.0,
    training_queue: Annotated[
        bool,
        typer.Option(
            help="Also run the training queue: admit Jobs with Kueue's queue label (not "
            "beside Kueue)."
        ),
    ] = False,
    queue_period: Annotated[float, typer.Option(help="Seconds between queue passes.")] = 5.0,
    queue: Annotated[
        list[str] | None,
        typer.Option(help="--training-queue: a queue, NAME=MODEL:GPUS; repeatable."),
    ] = None,
) -> None:
    """The provisioner and the CronHPA, ElasticScaler and ResourceRecommendation controllers
    as a kopf operator: only the holder of a Lease acts; /healthz and Prometheus /metrics on
    --health-port (docs/kubernetes.md, docs/controllers.md)."""
    periods = (
        ("--cron-period", cron_period),
        ("--elastic-period", elastic_period),
        ("--recommend-period", recommend_period),
        ("--queue-period", queue_period),
    )
    for option, value in periods:
        if value <= 0:
            raise fail(f"{option}: a number of seconds > 0")
    import os
    import socket

    from lightkube import AsyncClient

    from tidewise.kube.controllers import ControllerSettings
    from tidewise.kube.operator import LeaseElector, Operator, run_operator

    make = kwok_provisioner(instance_types, boot_delay, period, unneeded, delay_after_add)
    config = kube_service(kubeconfig)
    if kubeconfig:  # for kopf's own login
        os.environ["KUBECONFIG"] = str(kubeconfig)
    holder = identity or f"{socket.gethostname()}-{os.getpid()}"

    def build() -> Operator:
        client = AsyncClient(config, field_manager="tidewise-operator")
        elector = LeaseElector(client, lease_namespace, holder, duration_s=lease_duration)
        return Operator(make(client), elector, period)

    try:
        queues = tuple(parse_queue(q) for q in queue) if queue else None
    except ValueError as error:
        raise fail(str(error)) from None
    controllers = ControllerSettings(
        prometheus_url,
        cron_period,
        elastic_period,
        recommend_period,
        training_queue,
        queue_period,
        queues,
    )
    run_operator(build, health_host, health_port, kubeconfig is not None, controllers)


if __name__ == "__main__":
    app()
