"""The ``tidewise`` command."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from tidewise.sim.policies import POLICIES
from tidewise.sim.runner import attribution, prepare, run
from tidewise.sim.scenario import ScenarioError, load_scenario

app = typer.Typer(
    help="tidewise: elasticity and cost control for Kubernetes fleets that run AI products.",
    no_args_is_help=True,
    add_completion=False,
)
DEFAULT_SCENARIO = "nasa-week.yaml"


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
    for option, out in (("--json", json_path), ("--report", report)):
        if out is not None and not out.parent.is_dir():
            raise fail(f"{option}: folder {out.parent} does not exist; create it or pick another")
    try:
        parsed, base = load_scenario(path)
        prepared = prepare(parsed, base)
    except ScenarioError as err:
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
        for option, out in (("--json", json_path), ("--report", report)):
            if out is not None and not out.parent.is_dir():
                raise ValueError(f"{option}: folder {out.parent} does not exist")
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


@app.command()
def policies() -> None:
    """List the policies a scenario can compare."""
    for name, (summary, _) in POLICIES.items():
        sys.stdout.write(f"{name:<18} {summary}\n")


if __name__ == "__main__":
    app()
