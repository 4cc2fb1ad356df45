"""``tidewise sim``: replay a scenario in the twin under each of its policies."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import user_errors
from tidewise.cli.output import QuietOption, check_output_folders, progress_bars, write_json

DEFAULT_SCENARIO = "nasa-week.yaml"

app = typer.Typer(add_completion=False)


def default_scenario_path() -> Path:
    return Path(str(resources.files("tidewise.scenarios").joinpath(DEFAULT_SCENARIO)))


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
    quiet: QuietOption = False,
) -> None:
    """Replay a scenario under each of its policies and compare cost and service."""
    from rich.console import Console

    from tidewise.report import render_table, write_html
    from tidewise.sim.services.runner import attribution, prepare, run
    from tidewise.sim.services.scenario import ScenarioError, load_scenario

    path = scenario or default_scenario_path()
    with user_errors(ScenarioError, ValueError):
        check_output_folders({"--json": json_path, "--report": report})
        parsed, base = load_scenario(path)
        prepared = prepare(parsed, base)
    with progress_bars(
        parsed.policies, 1.0, "{task.percentage:>3.0f}% of the simulated horizon", quiet
    ) as bars:
        result = run(prepared, None if bars is None else bars.update)
    console = Console()
    if not quiet:
        render_table(result, console)
    write_json(json_path, result.model_dump(mode="json"))
    if report is not None:
        write_html(result, report, attribution=attribution(parsed))
        if not quiet:
            console.print(f"report written to [bold]{report}[/]")
