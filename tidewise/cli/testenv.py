"""``tidewise testenv``: a throw-away control plane on loopback, for the end-to-end tests and
for trying the operator without a cloud (docs/testenv.md)."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tidewise.cli.errors import fail, user_errors

app = typer.Typer(
    help="A real control plane on loopback (etcd, apiserver, controllers, scheduler, kwok).",
    no_args_is_help=True,
    add_completion=False,
)
TestenvFolder = Annotated[
    Path, typer.Option("--dir", help="Folder that holds the cluster's keys, data and logs.")
]
DEFAULT_TESTENV = Path(".testenv")


def progress(line: str) -> None:
    """Progress on stderr, so ``up`` can print the kubeconfig path alone on stdout."""
    Console(stderr=True).print(f"[dim]testenv:[/] {line}", highlight=False)


@app.callback()
def testenv_available() -> None:
    """The test control plane is a development tool: a source checkout has it, a wheel not."""
    try:
        import tidewise.testenv  # noqa: F401
    except ModuleNotFoundError as missing:
        lacking = (missing.name or "").startswith("tidewise")
        where = "not in an installed wheel" if lacking else f"it needs {missing.name}"
        raise fail(
            f"tidewise testenv is a development tool ({where}): run it from a source checkout "
            "installed with its dev extra (docs/testenv.md)"
        ) from None


def testenv_errors() -> AbstractContextManager[None]:
    """A failed build or a missing cluster is one line and exit code 2, not a traceback."""
    from tidewise.testenv import BuildError, ClusterError

    return user_errors(BuildError, ClusterError)


@app.command("build")
def testenv_build() -> None:
    """Build the control plane, Karpenter and helm for the pinned versions (once; then
    cached)."""
    from tidewise.testenv import ensure_binaries
    from tidewise.testenv.helm import ensure_helm
    from tidewise.testenv.karpenter import ensure_karpenter

    with testenv_errors():
        sys.stdout.write(f"{ensure_binaries(progress).folder}\n")
        sys.stdout.write(f"{ensure_karpenter(progress).folder}\n")
        sys.stdout.write(f"{ensure_helm(progress).folder}\n")


@app.command("up")
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
    from tidewise.testenv import ensure_binaries, up

    extenders = [extender_stanza(extender)] if extender else None
    with testenv_errors():
        cluster = up(folder, ensure_binaries(progress), progress, extenders)
    sys.stdout.write(f"{cluster.kubeconfig}\n")


@app.command("down")
def testenv_down(folder: TestenvFolder = DEFAULT_TESTENV) -> None:
    """Stop the cluster in the folder (its data and logs stay until the next ``up``)."""
    from tidewise.testenv import down

    with testenv_errors():
        stopped = down(folder)
    progress(f"stopped {', '.join(stopped) or 'nothing (it was not running)'}")


@app.command("status")
def testenv_status(folder: TestenvFolder = DEFAULT_TESTENV) -> None:
    """Each component's health; exit code 1 unless all are ok."""
    from tidewise.testenv import status

    with testenv_errors():
        health = status(folder)
    for name, answer in health.items():
        sys.stdout.write(f"{name:<24} {answer}\n")
    if any(answer != "ok" for answer in health.values()):
        raise typer.Exit(code=1)
