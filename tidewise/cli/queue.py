"""``tidewise queue``: the training queue's controller against a real cluster (the jobs it
admits are submitted with ``tidewise job submit --cluster kube``)."""

from __future__ import annotations

from typing import Annotated

import typer

from tidewise.cli.errors import fail
from tidewise.cli.kube import (
    ContextOption,
    KubeconfigOption,
    kube_service,
    run_until_interrupted,
)
from tidewise.queue import FlavorQuota, Ordering, QueueConfig

app = typer.Typer(
    help="The training queue's controller on a real cluster.",
    no_args_is_help=True,
    add_completion=False,
)


def parse_queue(text: str) -> QueueConfig:
    """``NAME=MODEL:GPUS[,MODEL:GPUS...]`` as a queue; ``ValueError`` says the format."""
    name, _, quotas = text.partition("=")
    try:
        pairs = [q.rsplit(":", 1) for q in quotas.split(",")]
        return QueueConfig(name, tuple(FlavorQuota.gpus(m, float(g)) for m, g in pairs))
    except ValueError:
        raise ValueError(
            f"{text!r} is not NAME=MODEL:GPUS[,MODEL:GPUS], e.g. "
            "--queue team-a=NVIDIA-A100-SXM4-80GB:16"
        ) from None


def parse_queues(texts: list[str] | None) -> tuple[QueueConfig, ...] | None:
    """The ``--queue`` options (``None``: one default queue of every GPU); a bad one is the
    one error line."""
    try:
        return tuple(parse_queue(text) for text in texts) if texts else None
    except ValueError as error:
        raise fail(f"--queue: {error}") from None


@app.command("run")
def queue_run(
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            help="A queue, NAME=MODEL:GPUS (GPU model as nodes label it); repeatable. "
            "Default: one 'default' queue with every GPU."
        ),
    ] = None,
    ordering: Annotated[Ordering, typer.Option(help="Admission order.")] = Ordering.TIDEWISE,
    period: Annotated[float, typer.Option(help="Seconds between admission passes.")] = 5.0,
) -> None:
    """Admit queued Jobs and PyTorchJobs (un-suspend) once every worker fits; write each
    waiting job's position and reason on it; until interrupted."""
    from lightkube import AsyncClient

    from tidewise.kube.jobs.controller import QueueController

    queues = parse_queues(queue)
    if period <= 0:
        raise fail("--period: seconds between passes, > 0, e.g. --period 5")
    config = kube_service(kubeconfig, context)

    async def run() -> None:
        client = AsyncClient(config, field_manager="tidewise-queue")
        await QueueController(client, queues, ordering).run(period)

    run_until_interrupted(run)
