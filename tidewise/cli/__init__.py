"""The ``tidewise`` command.

One module per command group (``tidewise.cli.sim``, ``.bench``, ``.job``...), each imported
only when its command runs: :data:`COMMANDS` names them with the help line ``tidewise
--help`` lists, so the root help and a command like ``tidewise job list`` do not pay for the
twin's numpy and plotly or for the Kubernetes clients. A command whose optional dependencies
are missing says which extra to install, in one line.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidewise.cli.errors import missing_extra
from tidewise.cli.lazy import ClickContext, Lazy, LazyGroup
from tidewise.cli.params import check_numbers

OPERATOR_HELP = (  # the line breaks of its docstring, as --help has always shown them
    "The node engine's controller (Karpenter's NodePools and NodeOverlays, or the kwok\n"
    "fallback's provisioner) and the CronHPA, ElasticScaler and ResourceRecommendation\n"
    "controllers as a kopf operator: only the holder of a Lease acts; /healthz and Prometheus\n"
    "/metrics on --health-port (docs/kubernetes.md, docs/karpenter.md, docs/controllers.md)."
)

# in the order --help lists them
COMMANDS = {
    "sim": Lazy(
        "tidewise.cli.sim",
        "app",
        "Replay a scenario under each of its policies and compare cost and service.",
        group=False,
    ),
    "sweep": Lazy(
        "tidewise.cli.sweep",
        "app",
        "Replay a scenario over settings and seeds; the Pareto front and the setting to run.",
        group=False,
    ),
    "policies": Lazy(
        "tidewise.cli.policies", "app", "List the policies a scenario can compare.", group=False
    ),
    "operator": Lazy("tidewise.cli.operator", "operator_app", OPERATOR_HELP, group=False),
    "bench": Lazy("tidewise.cli.bench", "app", "Benchmarks on published traces."),
    "plan": Lazy("tidewise.cli.plan", "app", "Plans from a history: what to buy ahead."),
    "job": Lazy("tidewise.cli.job", "app", "Training jobs: submit, list, get, delete, top."),
    "queue": Lazy(
        "tidewise.cli.queue", "app", "The training queue's controller on a real cluster."
    ),
    "fleet": Lazy(
        "tidewise.cli.fleet",
        "app",
        "Several clusters: ordered replication, weighted traffic, failover.",
    ),
    "cost": Lazy(
        "tidewise.cli.cost",
        "app",
        "What each namespace, team or pod costs on the cluster, the idle remainder apart.",
        group=False,
    ),
    "capture": Lazy(
        "tidewise.cli.capture",
        "app",
        "Write a scenario of a live cluster and its Prometheus history, for `tidewise sim`.",
        group=False,
    ),
    "karpenter": Lazy(
        "tidewise.cli.karpenter",
        "app",
        "Steer Karpenter with tidewise's capacity policy (docs/karpenter.md).",
    ),
    "testenv": Lazy(
        "tidewise.cli.testenv",
        "app",
        "A real control plane on loopback (etcd, apiserver, controllers, scheduler, kwok).",
    ),
    "extender": Lazy(
        "tidewise.cli.extender",
        "app",
        "The GPU-share scheduler extender kube-scheduler calls (docs/kubernetes.md).",
    ),
    "device-plugin": Lazy(
        "tidewise.cli.deviceplugin",
        "app",
        "Serve the GPU-share resources to the kubelet: each container gets the GPU the extender\n"
        "chose, with its memory and compute limits (docs/device-plugin.md).",
        group=False,
    ),
    "provisioner": Lazy(
        "tidewise.cli.operator",
        "provisioner_app",
        "Node provisioning through a provider (docs/kubernetes.md).",
    ),
}


class Tidewise(LazyGroup):
    """The root group: a command whose optional dependencies are missing, found when its
    module is imported or while it runs, names the extra to install."""

    lazy = COMMANDS

    def get_command(self, ctx: ClickContext, cmd_name: str) -> Any:
        try:
            return super().get_command(ctx, cmd_name)
        except ModuleNotFoundError as error:
            raise missing_extra(f"tidewise {cmd_name}", error) from None

    def prepare(self, command: Any) -> Any:
        return check_numbers(command)  # no option takes nan, infinity or a 40-digit count

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as error:
            raise missing_extra(f"tidewise {ctx.invoked_subcommand}", error) from None


app = typer.Typer(
    cls=Tidewise,
    help="tidewise: elasticity and cost control for Kubernetes fleets that run AI products.",
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    add_completion=True,
    # -h as well as --help, on every command (click passes it down to each sub-context)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"tidewise {version('tidewise')}")
        raise typer.Exit()


@app.callback()
def tidewise(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Nothing to do before a command: each lives in its own module (see ``COMMANDS``)."""
