"""``tidewise sweep``: replay a scenario over a grid (or an NSGA-II search) of settings and
seeds, in local processes or as Ray tasks; the Pareto front of cost against violation minutes
and the setting to run (docs/sweep.md)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import fail, user_errors
from tidewise.cli.output import (
    STDOUT,
    JsonOption,
    QuietOption,
    check_known,
    check_output_folders,
    note,
    progress_bars,
    show,
    write_json,
)
from tidewise.cli.params import parse_seeds

RAY_ADDRESS = re.compile(r"^(auto|local|(ray://)?[A-Za-z0-9._-]+:[0-9]{1,5})$")
"""What ``ray.init(address=...)`` takes: ``auto`` (the cluster this machine belongs to),
``local`` (a new one here), a Ray Client URL ``ray://HOST:10001`` or a GCS ``HOST:6379``."""
RUNS = "runs"  # the one progress bar's name

app = typer.Typer(add_completion=False)


class Search(StrEnum):
    GRID = "grid"
    NSGA2 = "nsga2"


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML to sweep.")],
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="NAME=LOW:HIGH:STEP or NAME=A,B,C; NAME a dotted path into the scenario "
            "(workloads.web.target_utilization, workloads.*.overload_risk) or, after policy., "
            "into the policy's settings (policy.vm_level.overload_risk). Repeat for more.",
        ),
    ],
    policy: Annotated[str, typer.Option(help="The policy every run replays.")] = "tidewise",
    seeds: Annotated[
        str | None, typer.Option(help="Seeds: 42-45 or 42,43 (default: the scenario's).")
    ] = None,
    search: Annotated[
        Search, typer.Option(help="grid: every combination; nsga2: Optuna's NSGA-II.")
    ] = Search.GRID,
    trials: Annotated[
        int, typer.Option(min=1, help="Settings NSGA-II tries (with --search nsga2).")
    ] = 32,
    violation_budget: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Violation minutes the recommended setting may have (default: those of the "
            "scenario as written, run beside the sweep).",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Runs at once, each in its own process."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            envvar="RAY_ADDRESS",
            help="Run every replay as a task on this Ray cluster (auto, ray://HOST:10001).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder that keeps every run as it finishes; a re-run resumes."),
    ] = None,
    json_path: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report (Pareto chart) here.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Replay a scenario over settings and seeds; the Pareto front and the setting to run."""
    from tidewise.report.sweep import sweep_table, write_sweep_html
    from tidewise.sim.processes import default_workers
    from tidewise.sim.services.policies import POLICIES
    from tidewise.sim.services.scenario import ScenarioError, scenario_data, validate_scenario
    from tidewise.sim.services.sweep import (
        Executor,
        LocalProcesses,
        RayTasks,
        Store,
        Sweep,
        apply,
        check_params,
        grid,
        parse_param,
        policy_kwargs,
        run_sweep,
    )

    if quiet and json_path is None and report is None and out is None:
        raise fail("--quiet: nothing would be shown or written; add --json, --report or --out")
    with user_errors(ScenarioError, ValueError):
        check_output_folders({"--json": json_path, "--report": report}, inputs=[scenario])
        _check_out(out)
        if ray is not None and not RAY_ADDRESS.match(ray):
            raise ValueError(
                f"--ray: {ray!r} is not a Ray address; give auto, ray://HOST:10001 or HOST:6379"
            )
        check_known("--policy", [policy], POLICIES)
        params = [parse_param(text) for text in param]
        data = scenario_data(scenario)
        parsed, base = validate_scenario(data, scenario)
        seed_list = parse_seeds(seeds) if seeds is not None else [parsed.seed]
        # the optional extras, before any work (a missing one is named by the root group)
        if search is Search.NSGA2:
            import optuna  # noqa: F401
        if ray is not None:
            import ray as _ray  # noqa: F401
        check_params(data, base, policy, params)
        if search is Search.GRID:
            for setting in grid(params):  # two values fine alone may clash (min > max)
                apply(data, setting)
                policy_kwargs(policy, setting)
        store = Store(out, parsed, policy)
    plan = Sweep(
        parsed,
        data,
        base,
        tuple(params),
        policy,
        tuple(seed_list),
        violation_budget=violation_budget,
    )
    settings = len(grid(params)) if search is Search.GRID else trials
    total = (settings + (violation_budget is None)) * len(seed_list)
    executor: Executor = (
        RayTasks(ray) if ray is not None else LocalProcesses(jobs or default_workers(total))
    )
    # an NSGA-II trial's values may clash, met as its setting is applied: the same one line
    with (
        user_errors(ScenarioError),
        progress_bars([RUNS], total, "{task.completed:.0f} runs", quiet) as bars,
    ):
        result = run_sweep(
            plan,
            search.value,
            trials,
            executor,
            store,
            None if bars is None else (lambda _run: bars.advance(RUNS)),
        )
    if not quiet and json_path != STDOUT:
        show(sweep_table(result))
    write_json(json_path, result.model_dump(mode="json"))
    if report is not None:
        write_sweep_html(result, report)
        if not quiet:
            note(f"report written to {report}")


def _check_out(out: Path | None) -> None:
    """``--out`` is a folder: an existing one (a sweep to resume, or empty), or a new one in
    a folder that exists."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} is a file; give a folder (new, or a sweep's to resume)")
    if not out.exists() and not out.parent.is_dir():
        raise ValueError(f"--out: folder {out.parent} does not exist; create it or pick another")
