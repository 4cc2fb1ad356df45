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
from tidewise.sim.runner import prepare, run
from tidewise.sim.scenario import ScenarioError, load_scenario

app = typer.Typer(
    help="tidewise: elasticity and cost control for Kubernetes fleets that run AI products.",
    no_args_is_help=True,
    add_completion=False,
)
DEFAULT_SCENARIO = "nasa-week.yaml"


def default_scenario_path() -> Path:
    return Path(str(resources.files("tidewise.scenarios").joinpath(DEFAULT_SCENARIO)))


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
        with Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}% of the simulated horizon"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        ) as bar:
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
        write_html(result, report, attribution=ATTRIBUTION)
        if not quiet:
            console.print(f"report written to [bold]{report}[/]")


@app.command()
def policies() -> None:
    """List the policies a scenario can compare."""
    for name, (summary, _) in POLICIES.items():
        sys.stdout.write(f"{name:<18} {summary}\n")


ATTRIBUTION = (
    "Traffic: NASA-HTTP trace, Internet Traffic Archive (Arlitt & Williamson, 1996). "
    "Prices: AWS on-demand prices via aws/karpenter-provider-aws (Apache-2.0); spot savings "
    "and interruption bands from the AWS Spot Advisor feed via alexei-led/spotinfo "
    "(Apache-2.0). See data/README.md."
)


if __name__ == "__main__":
    app()
