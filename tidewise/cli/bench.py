"""``tidewise bench``: the benchmarks on published traces (GPU packing, autoscaling, queue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tidewise.cli.errors import user_errors
from tidewise.cli.output import (
    STDOUT,
    Format,
    JobsOption,
    JsonOption,
    OutputOption,
    QuietOption,
    check_known,
    check_one_stdout,
    check_output_folders,
    note,
    print_document,
    progress_bars,
    show,
    write_json,
)
from tidewise.cli.params import parse_seeds

DEFAULT_FORECASTER = "seasonal-level"

app = typer.Typer(
    help="Benchmarks on published traces.", no_args_is_help=True, add_completion=False
)

PolicyOption = Annotated[
    list[str] | None, typer.Option(help="Policy to run; repeat for several (default: all).")
]


def parse_share(text: str, option: str) -> float:
    """``1%`` or ``0.01`` to a fraction in [0, 1]."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError(f"{option}: a share of the pods placed, such as 1% or 0.01")
    return value


@app.command("gpu-pack")
def gpu_pack(
    nodes: Annotated[Path, typer.Option(help="openb node list CSV (sn,cpu_milli,...,gpu,model).")],
    pods: Annotated[Path, typer.Option(help="openb pod list CSV (name,cpu_milli,...).")],
    policy: PolicyOption = None,
    tune: Annotated[float, typer.Option(help="GPU requests as a multiple of cluster GPUs.")] = 1.3,
    seeds: Annotated[str, typer.Option(help="Seeds: 42-51 or 42,43.")] = "42-51",
    json_path: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML plot of allocation here.")
    ] = None,
    moves: Annotated[
        bool,
        typer.Option(
            "--moves", help="Also run each policy moving small pods for a pod that fits nowhere."
        ),
    ] = False,
    deschedule: Annotated[
        list[str] | None,
        typer.Option(
            help="Also run each policy with this pass after the arrivals: fragOnePod, "
            "fragMultiPod, cosSim (the FGD simulator's) or moves-after (ours); repeat for several."
        ),
    ] = None,
    move_budget: Annotated[
        str, typer.Option(help="Pods that may move, as a share of the pods placed: 1% or 0.01.")
    ] = "1%",
    max_moves: Annotated[
        int, typer.Option(help="Ours: the most moves spent on one waiting pod (1 or more).")
    ] = 4,
    chains: Annotated[
        bool,
        typer.Option(
            "--chains",
            help="Ours: a moved share that fits no gap may land where smaller shares move off.",
        ),
    ] = False,
    quiet: QuietOption = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """GPU-sharing placement on Alibaba's openb trace, as the FGD paper (USENIX ATC'23)."""
    from tidewise.report import gpu_moves_table, gpu_pack_table, write_gpu_pack_html
    from tidewise.sim.gpupack.bench import GPU_POLICIES, run_benchmark
    from tidewise.sim.gpupack.bench.moves import MOVERS, Mover, run_moves_benchmark
    from tidewise.sim.gpupack.openb import TraceFormatError, load_nodes, load_pods

    names = policy or list(GPU_POLICIES)
    with user_errors(ValueError, TraceFormatError):
        check_known("--policy", names, GPU_POLICIES)
        check_known("--deschedule", deschedule or [], [m for m in MOVERS if m != "moves"])
        if tune <= 0:
            raise ValueError("--tune: give a positive multiple of cluster GPUs, e.g. 1.3")
        budget = parse_share(move_budget, "--move-budget")
        if max_moves < 1:
            raise ValueError("--max-moves: give 1 or more moves per waiting pod, e.g. 8")
        kinds = ["moves"] * moves + (deschedule or [])
        movers = [Mover(kind, budget, max_moves, chains) for kind in kinds]
        seed_list = parse_seeds(seeds)
        check_output_folders({"--json": json_path, "--report": report})
        check_one_stdout(json_path, output)
        node_specs = load_nodes(nodes)
        pod_shapes = load_pods(pods)
    workload = pods.stem
    bar_names = names + [f"{n}+{m.label}" for n in names for m in movers]
    done = "{task.completed}/{task.total} seeds"
    with progress_bars(bar_names, len(seed_list), done, quiet) as bars:
        advance = None if bars is None else bars.advance
        results = run_benchmark(node_specs, pod_shapes, workload, names, seed_list, tune, advance)
        moved = run_moves_benchmark(
            node_specs, pod_shapes, workload, names, movers, seed_list, tune, advance
        )
    if not quiet and not output.is_document and json_path != STDOUT:
        show(gpu_pack_table(results))
        if moved:
            show(gpu_moves_table(moved))
    document = {
        "benchmark": "gpu-pack",
        "nodes": str(nodes),
        "pods": str(pods),
        "tune": tune,
        "runs": [r.model_dump(mode="json") for r in [*results, *moved]],
    }
    write_json(json_path, document)
    if output.is_document:
        print_document(document, output)
    if report is not None:
        write_gpu_pack_html(results, report, title=f"GPU packing on {workload}")


@app.command("autoscale")
def autoscale(
    trace: Annotated[Path, typer.Option(help="Request-rate CSV with a header (time, value).")],
    time_col: Annotated[
        str | None, typer.Option(help="Time column, ISO-8601 or Unix s (default: the first).")
    ] = None,
    value_col: Annotated[
        str | None,
        typer.Option(help="Load column (default: the first after the time that is not a time)."),
    ] = None,
    policy: PolicyOption = None,
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
    overload_risk: Annotated[
        float, typer.Option(help="The slo policy's chance per minute of overload, 0-0.5.")
    ] = 0.005,
    serverless: Annotated[
        bool,
        typer.Option(
            "--serverless",
            help="Burst the load the VM replicas miss onto serverless, priced per second.",
        ),
    ] = False,
    serverless_startup: Annotated[
        float, typer.Option(help="Seconds from a serverless container's creation to Ready.")
    ] = 30.0,
    json_path: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML chart of the replay here.")
    ] = None,
    quiet: QuietOption = False,
    output: OutputOption = Format.TABLE,
    jobs: JobsOption = None,
) -> None:
    """Replica policies on one service replaying a request-rate trace, side by side."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from tidewise.report.autoscale import autoscale_figure, autoscale_table, write_autoscale_html
    from tidewise.scaling.forecast import forecaster_named
    from tidewise.sim.autoscale.bench import (
        AUTOSCALE_POLICIES,
        AutoscaleSettings,
        burst_document,
        check_warmup,
        demand_replicas,
        run_autoscale,
    )
    from tidewise.sim.processes import default_workers
    from tidewise.sim.rate_trace import TraceError, load_rate_trace

    names = policy or list(AUTOSCALE_POLICIES)
    with user_errors(ValueError, TraceError):
        check_known("--policy", names, AUTOSCALE_POLICIES)
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
        if serverless_startup < 0:
            raise ValueError("--serverless-startup: seconds >= 0, e.g. 30")
        if not 0 < overload_risk < 0.5:
            raise ValueError("--overload-risk: a chance per minute in (0, 0.5), e.g. 0.005")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"--time-zone: '{time_zone}' is not an IANA zone") from None
        check_output_folders({"--json": json_path, "--report": report})
        check_one_stdout(json_path, output)
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
            overload_risk=overload_risk,
            serverless=serverless,
            serverless_startup_s=serverless_startup,
        )
        check_warmup(rates, settings)  # before the bars: the one error line stays alone
        with progress_bars(names, rates.duration_s, "{task.percentage:>3.0f}%", quiet) as bars:
            service, results = run_autoscale(
                rates,
                settings,
                names,
                None if bars is None else bars.update,
                jobs or default_workers(len(names)),
            )
    rows = [r.summary() for r in results]
    measured = int(settings.warmup_s // rates.step_s)
    notes = (
        f"{rates.name}, column {rates.value_column}: {len(rates.values):,} steps of "
        f"{rates.step_s:g} s; replica capacity {service.replica_capacity:.4g} at 100 % CPU, "
        f"target {service.target_utilization:.0%}, start-up {service.startup_s:g} s; measured "
        f"after a {settings.warmup_days:g}-day warm-up ({rates.observed[measured:].sum():,} "
        "observed steps)."
    )
    if not quiet and not output.is_document and json_path != STDOUT:
        show(autoscale_table(rows, title=f"Autoscaling on {rates.name}"))
        note(notes)
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
        "overload_risk": settings.overload_risk,
        "serverless": burst_document(settings),
        "policies": rows,
    }
    write_json(json_path, document)
    if output.is_document:
        print_document(document, output)
    if report is not None:
        figure = autoscale_figure(
            rates.start_unix_s,
            rates.step_s,
            demand_replicas(rates, service),
            {r.policy: (r.replicas, r.served) for r in results},
            measured,
        )
        write_autoscale_html(report, f"Autoscaling on {rates.name}", rows, figure, notes)


@app.command("serve")
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
    json_path: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML chart of the replay here.")
    ] = None,
    quiet: QuietOption = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """Serving policies on one LLM service replaying a request trace, side by side."""
    from tidewise.report.serving import serving_figure, serving_table, write_serving_html
    from tidewise.sim.rate_trace import TraceError
    from tidewise.sim.serving import bench
    from tidewise.sim.serving.profiles import ProfileError

    with user_errors(ValueError, TraceError, ProfileError):
        check_output_folders({"--json": json_path, "--report": report})
        check_one_stdout(json_path, output)
        names, workload, server, settings = bench.prepare(
            trace=trace, model=model, gpu=gpu, share=share, policies=policies, tokens=tokens,
            start=start, hours=hours, peak_rps=peak_rps, history_days=history_days, seed=seed,
            ttft=ttft, tpot=tpot, attainment=attainment, knobs=knob or [], floors=floor or [],
            max_replicas=max_replicas, step=step, node_boot=node_boot, image_pull=image_pull,
            model_load=model_load, node_linger=node_linger, forecaster=forecaster,
        )  # fmt: skip
        total = workload.requests.duration_s
        with progress_bars(names, total, "{task.percentage:>3.0f}%", quiet) as bars:
            runs = bench.run_serving(
                workload.requests, server, settings, names, None if bars is None else bars.update
            )
    doc = bench.document(workload, server, settings, runs)
    rows: list[dict[str, Any]] = doc["policies"]
    title = f"Serving {server.name} on {trace.name}"
    notes = bench.notes(workload, settings.objective)
    if not quiet and not output.is_document and json_path != STDOUT:
        show(serving_table(rows, title))
        note(notes)
    write_json(json_path, doc)
    if output.is_document:
        print_document(doc, output)
    if report is not None:
        figure = serving_figure(*bench.chart_series(workload, runs, settings.objective))
        write_serving_html(report, title, rows, figure, notes)


@app.command("queue")
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
    json_path: JsonOption = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Queue policies replaying a job trace on a fixed GPU pool and on an elastic one."""
    from tidewise.sim.jobs.bench import POLICIES, QueueBenchSettings, load_and_run
    from tidewise.sim.jobs.trace import JobTraceError, TraceWindow

    names = tuple(policy or POLICIES)
    with user_errors(ValueError, JobTraceError):
        check_known("--policy", names, POLICIES)
        if gpus < 8 or gpus % 8:
            raise ValueError("--gpus: a multiple of 8 (whole 8-GPU nodes), e.g. 64")
        if hours <= 0 or (sample or 1) < 1 or age_hours < 0 or starvation_hours <= 0:
            raise ValueError("--hours > 0, --sample >= 1, --age-hours >= 0, --starvation-hours > 0")
        if load <= 0 or overestimate < 0:
            raise ValueError("--load > 0 (e.g. 0.95) and --overestimate >= 0")
        if not 0 <= checkpointable <= 1:
            raise ValueError("--checkpointable: a share in [0, 1], e.g. 0.5")
        if seed < 0 or datasets < 0 or (max_gpus is not None and max_gpus < 1):
            raise ValueError("--seed >= 0, --datasets >= 0 and --max-gpus >= 1")
        check_output_folders({"--json": json_path})
        check_one_stdout(json_path, output)
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
    from tidewise.report.queue import queue_table

    if output.is_document:
        print_document(document, output)
    elif json_path != STDOUT:
        show(queue_table(document))
    write_json(json_path, document)
