"""``tidewise fleet``: copy an application from one cluster to another in dependency order.

``plan`` prints the ordered steps and their gates before anything is applied; ``sync``
applies them one by one, waits at each gate and records the run in a file, so the same
command resumes after a crash or an unreachable API server (docs/fleet.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tidewise.cli.errors import fail
from tidewise.cli.kube import api_errors, check_name, read_kubeconfig
from tidewise.cli.output import Format, OutputOption, print_document
from tidewise.cli.traffic import app as traffic_app
from tidewise.files import InputError, read_input
from tidewise.fleet.gates import GateError
from tidewise.fleet.manifests import Selection
from tidewise.fleet.plan import Plan, PlanError, Step, build_plan
from tidewise.fleet.run import RunError, record_problem
from tidewise.fleet.transform import Transform, TransformError

if TYPE_CHECKING:
    from lightkube import Client

app = typer.Typer(
    help="Several clusters: ordered replication, weighted traffic, failover.",
    no_args_is_help=True,
    add_completion=False,
)


SourceOption = Annotated[
    Path, typer.Option("--source", help="Kubeconfig of the cluster to copy from.")
]
NamespaceOption = Annotated[
    list[str], typer.Option("--namespace", "-n", help="Namespace to copy (repeatable).")
]
SelectorOption = Annotated[
    list[str] | None,
    typer.Option("--selector", "-l", help="Only objects with this label, k=v (repeatable)."),
]
KindsOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated kinds to copy (default: namespaces, service accounts, RBAC, "
        "config maps, secrets, claims, services, workloads); CR kinds as Kind or Kind.group."
    ),
]
TransformOption = Annotated[
    Path | None,
    typer.Option(
        "--transform",
        help="YAML file: namespaces, images, storageClasses, replicas (docs/fleet.md).",
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Default seconds each gate may take.", min=1)
]
RetriesOption = Annotated[
    int, typer.Option("--retries", help="Default re-applies after a gate times out.", min=0)
]


@contextmanager
def fleet_errors() -> Iterator[None]:
    """Bad input and stopped syncs are one line and exit code 2, not a traceback."""
    from tidewise.kube.fleet.read import UnknownKind
    from tidewise.kube.fleet.sync import SyncError

    try:
        yield
    except (PlanError, TransformError, GateError, UnknownKind, SyncError) as error:
        raise fail(str(error)) from None
    except RunError as error:
        raise fail(f"--run-file: {error}") from None


def parse_selector(selector: list[str] | None) -> dict[str, str]:
    labels = {}
    for item in (part for entry in selector or [] for part in entry.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--selector: write key=value (got {item!r})")
        labels[key.strip()] = value.strip()
    return labels


def load_transform(path: Path | None) -> Transform:
    if path is None:
        return Transform()
    try:
        data = yaml.safe_load(read_input(path)) or {}
    except InputError as error:
        raise fail(f"--transform: {error}") from None
    except yaml.YAMLError as error:
        raise fail(f"--transform: {path} is not YAML ({error})") from None
    try:
        return Transform.from_dict(data)
    except TransformError as error:
        raise fail(f"--transform: {path}: {error}") from None


def client_for(option: str, kubeconfig: Path) -> Client:
    from tidewise.kube.fleet.sync import fleet_client

    return fleet_client(read_kubeconfig(kubeconfig, option))


def what_to_copy(
    namespaces: list[str], selector: list[str] | None, kinds: str | None, transform: Path | None
) -> tuple[Selection, Transform]:
    """The selection and the transforms, checked before any cluster is asked."""
    for name in namespaces:
        check_name("--namespace", name)
    selection = Selection(
        namespaces=tuple(namespaces),
        labels=parse_selector(selector),
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else (),
    )
    return selection, load_transform(transform)


def check_run_file(run_file: Path) -> None:
    """A run file this sync can record in: its folder exists, and what is there already (if
    anything) is a run record; checked before any cluster is asked."""
    if not run_file.parent.is_dir():
        raise fail(f"--run-file: folder {run_file.parent} does not exist")
    if not run_file.exists():
        return
    try:
        problem = record_problem(read_input(run_file))
    except InputError as error:
        problem = str(error)
    else:
        problem = problem and f"{run_file}: {problem}"
    if problem:
        raise fail(f"--run-file: {problem}; move it away to start afresh")


def make_plan(
    source: Client, selection: Selection, changes: Transform, timeout_s: float, retries: int
) -> Plan:
    """Read the selection from the source and plan it (no change anywhere yet)."""
    from tidewise.kube.fleet.read import read_selection

    with fleet_errors():
        with api_errors("--source"):
            objects = list(read_selection(source, selection))
        plan = build_plan(objects, selection, changes, timeout_s, retries)
    if not plan.steps:
        raise fail("nothing selected: check --namespace, --selector and --kinds")
    return plan


def plan_table(plan: Plan, present: dict[str, bool] | None = None) -> Table:
    """One row per step; with ``present``, whether the target already has the object."""
    table = Table(title=f"replication plan {plan.fingerprint()} ({len(plan.steps)} steps)")
    columns = ["#", "action", "cluster", "object", "gate", "after"]
    for column in [*columns, *(["on target"] if present is not None else [])]:
        table.add_column(column, overflow="fold")
    for index, step in enumerate(plan.steps, start=1):
        row = [
            str(index),
            step.action.value,
            step.cluster.value,
            step.id.removeprefix("source:"),
            step.gate.describe(),
            ", ".join(step.after),
        ]
        if present is not None:
            row.append({True: "present", False: "absent", None: ""}[present.get(step.id)])
        table.add_row(*row)
    return table


def redact(manifest: dict[str, Any] | None) -> None:
    """A plan printed for review must not leak a Secret's values (the keys stay)."""
    if manifest is None or manifest["kind"] != "Secret":
        return
    for field in ("data", "stringData"):
        if field in manifest:
            manifest[field] = dict.fromkeys(manifest[field], "(redacted)")


@app.command("plan")
def fleet_plan(
    source: SourceOption,
    namespace: NamespaceOption,
    target: Annotated[
        Path | None,
        typer.Option("--target", help="Kubeconfig of the target: shows what is there already."),
    ] = None,
    selector: SelectorOption = None,
    kinds: KindsOption = None,
    transform: TransformOption = None,
    timeout: TimeoutOption = 300.0,
    retries: RetriesOption = 1,
    output: OutputOption = Format.TABLE,
) -> None:
    """Print the ordered steps (what, where, behind which gate, after what); applies nothing."""
    selection, changes = what_to_copy(namespace, selector, kinds, transform)
    target_client = None if target is None else client_for("--target", target)
    plan = make_plan(client_for("--source", source), selection, changes, timeout, retries)
    present = None
    if target_client is not None:
        from tidewise.kube.fleet.sync import present_on

        present = present_on(target_client, plan)
    if output.is_document:
        data = plan.to_dict()
        for step in data["steps"]:
            redact(step["manifest"])
            if present is not None:
                step["on_target"] = present.get(step["id"])
        print_document(data, output)
    else:
        Console().print(plan_table(plan, present))


@app.command("sync")
def fleet_sync(
    source: SourceOption,
    target: Annotated[Path, typer.Option("--target", help="Kubeconfig of the cluster to fill.")],
    namespace: NamespaceOption,
    run_file: Annotated[
        Path,
        typer.Option("--run-file", help="Where the run is recorded; the same file resumes it."),
    ],
    selector: SelectorOption = None,
    kinds: KindsOption = None,
    transform: TransformOption = None,
    timeout: TimeoutOption = 300.0,
    retries: RetriesOption = 1,
    api_deadline: Annotated[
        float,
        typer.Option(help="Seconds to keep retrying an API server that does not answer.", min=1),
    ] = 120.0,
) -> None:
    """Apply the plan step by step (server-side apply as tidewise-fleet), waiting at each gate;
    resumes from the run file, skipping steps it records as done."""
    from tidewise.kube.fleet.sync import Clusters, Sync

    check_run_file(run_file)
    selection, changes = what_to_copy(namespace, selector, kinds, transform)
    target_client = client_for("--target", target)
    started = time.monotonic()
    source_client = client_for("--source", source)
    plan = make_plan(source_client, selection, changes, timeout, retries)
    console = Console(stderr=True)
    planned = time.monotonic()
    console.print(
        f"plan {plan.fingerprint()}: {len(plan.steps)} steps, read and planned in "
        f"{planned - started:.1f} s",
        highlight=False,
    )
    total = len(plan.steps)
    index = {step.id: i for i, step in enumerate(plan.steps, start=1)}
    counts = {"done": 0, "skip": 0}

    def progress(event: str, step: Step, detail: str) -> None:
        if event in counts:
            counts[event] += 1
        style = {"done": "green", "skip": "dim", "unreachable": "yellow", "retry": "yellow"}
        console.print(
            f"[{style.get(event, 'bold')}]{event:<11}[/] \\[{index[step.id]}/{total}] "
            f"{step.action.value} {escape(step.id)}: {escape(detail)}",
            highlight=False,
            soft_wrap=True,
        )

    clusters = Clusters(source_client, target_client)
    with fleet_errors():
        Sync(plan, clusters, run_file, progress, api_deadline).run()
    console.print(
        f"synced: {counts['done']} steps done now, {counts['skip']} done before, in "
        f"{time.monotonic() - planned:.1f} s; record in {run_file}",
        highlight=False,
    )


app.add_typer(traffic_app)  # one `fleet` group: plan and sync, then shift, watch, status, deck
