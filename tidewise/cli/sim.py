"""``tidewise sim``: replay a scenario in the twin under each of its policies."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import fail, user_errors
from tidewise.cli.output import (
    STDOUT,
    Format,
    JobsOption,
    JsonOption,
    OutputOption,
    QuietOption,
    check_one_stdout,
    check_output_folders,
    print_document,
    progress_bars,
    write_json,
)

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
    json_path: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    output: OutputOption = Format.TABLE,
    quiet: QuietOption = False,
    jobs: JobsOption = None,
) -> None:
    """Replay a scenario under each of its policies and compare cost and service."""
    from rich.console import Console

    from tidewise.report import render_table, write_html
    from tidewise.sim.processes import default_workers
    from tidewise.sim.services.runner import attribution, prepare, run
    from tidewise.sim.services.scenario import ScenarioError, load_scenario

    if quiet and json_path is None and report is None and not output.is_document:
        raise fail(
            "--quiet: nothing would be shown or written; add --json PATH, --report PATH or -o json"
        )
    path = scenario or default_scenario_path()
    with user_errors(ScenarioError, ValueError):
        check_one_stdout(json_path, output)
        check_output_folders({"--json": json_path, "--report": report}, inputs=[path])
        parsed, base = load_scenario(path)
        prepared = prepare(parsed, base)
    with progress_bars(
        parsed.policies, 1.0, "{task.percentage:>3.0f}% of the simulated horizon", quiet
    ) as bars:
        workers = jobs or default_workers(len(parsed.policies))
        result = run(prepared, None if bars is None else bars.update, workers)
    document = result.model_dump(mode="json")
    if output.is_document:
        print_document(document, output)
    elif not quiet and json_path != STDOUT:
        render_table(result, Console(), wide=output is Format.WIDE)
    write_json(json_path, document)
    if report is not None:
        write_html(result, report, attribution=attribution(parsed))
        if not quiet:
            Console(stderr=True).print(f"report written to [bold]{report}[/]")
