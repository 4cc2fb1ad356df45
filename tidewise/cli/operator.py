"""``tidewise operator`` and ``tidewise provisioner run``: the long-running services against a
cluster, wired from configuration by :mod:`tidewise.cli.compose`."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from tidewise.cli.errors import fail, user_errors
from tidewise.cli.kube import (
    KubeconfigOption,
    check_listen,
    check_name,
    kube_service,
    run_until_interrupted,
)
from tidewise.cli.queue import parse_queues

operator_app = typer.Typer(add_completion=False)
provisioner_app = typer.Typer(
    help="Node provisioning through a provider (docs/kubernetes.md).",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML: nodes, karpenter, provider, catalog, provisioner and controllers sections "
        "(docs/kubernetes.md); the options given here override it.",
    ),
]
InstanceTypesOption = Annotated[
    str | None, typer.Option(help="Comma-separated instance types it may buy; default all.")
]
BootDelayOption = Annotated[float, typer.Option(help="Seconds a kwok node takes to boot.")]
PeriodOption = Annotated[float, typer.Option(help="Seconds between rounds.")]
UnneededOption = Annotated[
    float, typer.Option(help="Seconds a node stays under-used before it is removed.")
]
DelayAfterAddOption = Annotated[
    float, typer.Option(help="Seconds after a scale-up before any scale-down.")
]


def given(ctx: typer.Context) -> dict[str, Any]:
    """The configuration flags the user typed (or set in the environment): only those
    override the configuration file."""
    from tidewise.cli.compose import FLAGS

    typed = {}
    for name in FLAGS:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in {"DEFAULT", "DEFAULT_MAP"}:
            typed[name] = ctx.params[name]
    return typed


@provisioner_app.command("run")
def provisioner_run(
    ctx: typer.Context,
    kubeconfig: KubeconfigOption = None,
    instance_types: InstanceTypesOption = None,
    boot_delay: BootDelayOption = 5.0,
    period: PeriodOption = 10.0,
    unneeded: UnneededOption = 600.0,
    delay_after_add: DelayAfterAddOption = 600.0,
    config: ConfigOption = None,
) -> None:
    """Buy kwok nodes (on-demand or spot, the cheapest that fit) for unschedulable pods, drain
    the under-used ones, and replace then drain nodes with an interruption notice, until
    interrupted."""
    from lightkube import AsyncClient

    from tidewise.cli.compose import load_config, provisioner_factory

    with user_errors(ValueError):
        configured = load_config(config, given(ctx))
        make = provisioner_factory(configured)
    kube = kube_service(kubeconfig)
    period_s = configured.config.provisioner.period_s

    async def run() -> None:
        await make(AsyncClient(kube, field_manager="tidewise-provisioner"), None).run(period_s)

    run_until_interrupted(run)


@operator_app.command()
def operator(
    ctx: typer.Context,
    kubeconfig: KubeconfigOption = None,
    health_host: Annotated[str, typer.Option(help="Address of /healthz and /metrics.")] = "0.0.0.0",
    health_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of /healthz and /metrics.")
    ] = 8080,
    lease_namespace: Annotated[
        str, typer.Option(help="Namespace of the leader-election Lease.")
    ] = "tidewise-system",
    identity: Annotated[
        str | None, typer.Option(help="Holder identity in the Lease; default: host name-pid.")
    ] = None,
    lease_duration: Annotated[
        int, typer.Option(help="Seconds before a Lease not renewed may be taken over.")
    ] = 15,
    instance_types: InstanceTypesOption = None,
    boot_delay: BootDelayOption = 5.0,
    period: PeriodOption = 10.0,
    unneeded: UnneededOption = 600.0,
    delay_after_add: DelayAfterAddOption = 600.0,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Prometheus for the queries of objects that select none."),
    ] = None,
    prometheus_endpoint: Annotated[
        list[str] | None,
        typer.Option(
            help="Another Prometheus objects may select, NAME=URL (spec.prometheus.endpoint); "
            "repeatable. Objects can make the operator query no other URL."
        ),
    ] = None,
    cron_period: Annotated[
        float, typer.Option(help="Seconds between CronHPA re-listings (jobs fire on time).")
    ] = 1.0,
    elastic_period: Annotated[
        float, typer.Option(help="Seconds between ElasticScaler syncs (the HPA's period).")
    ] = 15.0,
    recommend_period: Annotated[
        float,
        typer.Option(help="Seconds between ResourceRecommendation usage samples (VPA's 60)."),
    ] = 60.0,
    training_queue: Annotated[
        bool,
        typer.Option(
            help="Also run the training queue: admit Jobs with Kueue's queue label (not "
            "beside Kueue)."
        ),
    ] = False,
    queue_period: Annotated[float, typer.Option(help="Seconds between queue passes.")] = 5.0,
    queue: Annotated[
        list[str] | None,
        typer.Option(help="--training-queue: a queue, NAME=MODEL:GPUS; repeatable."),
    ] = None,
    on_demand_base: Annotated[
        bool,
        typer.Option(
            help="Also serve the on-demand base webhook and run its reconciler "
            "(docs/on-demand-base.md; its certificate: the on_demand_base config section)."
        ),
    ] = False,
    colocation: Annotated[
        bool,
        typer.Option(
            help="Also publish batch resources, evict batch pods under online load and serve "
            "the batch webhook (docs/colocation.md; the colocation config section)."
        ),
    ] = False,
    node_engine: Annotated[
        str,
        typer.Option(
            help="Who buys nodes: karpenter (steered by tidewise), kwok (tidewise's own "
            "provisioner, the fallback) or none."
        ),
    ] = "karpenter",
    config: ConfigOption = None,
) -> None:
    """The node engine's controller (Karpenter's NodePools and NodeOverlays, or the kwok
    fallback's provisioner) and the CronHPA, ElasticScaler and ResourceRecommendation
    controllers as a kopf operator: only the holder of a Lease acts; /healthz and Prometheus
    /metrics on --health-port (docs/kubernetes.md, docs/karpenter.md, docs/controllers.md)."""
    periods = (
        ("--cron-period", cron_period),
        ("--elastic-period", elastic_period),
        ("--recommend-period", recommend_period),
        ("--queue-period", queue_period),
    )
    for option, value in periods:
        if value <= 0:
            raise fail(f"{option}: a number of seconds > 0")
    parse_queues(queue)
    check_listen("--health-host", health_host)
    check_name("--lease-namespace", lease_namespace, "a namespace name, e.g. tidewise-system")
    if identity is not None and not identity.strip():
        raise fail("--identity: empty; leave it out for host name-pid, or give a name")
    if lease_duration < 1:
        raise fail(f"--lease-duration: whole seconds >= 1 (got {lease_duration})")
    from tidewise.cli.compose import (
        Lease,
        controller_settings,
        karpenter_policy,
        load_config,
        operator_factory,
        provisioner_factory,
    )
    from tidewise.kube.operator import run_operator

    with user_errors(ValueError):
        configured = load_config(config, given(ctx))
        make = provisioner_factory(configured)
        steer = karpenter_policy(configured)
        # the webhook's files, the serverless and cost prices checked before anything connects
        controllers = controller_settings(configured.config, configured.base, steer)
    kube = kube_service(kubeconfig)
    if kubeconfig:  # for kopf's own login
        os.environ["KUBECONFIG"] = str(kubeconfig)
    holder = identity or f"{socket.gethostname()}-{os.getpid()}"
    lease = Lease(lease_namespace, holder, lease_duration)
    timings = configured.config.provisioner
    fallback = make if configured.config.nodes.engine == "kwok" else None
    build = operator_factory(fallback, kube, lease, timings.period_s)
    run_operator(build, health_host, health_port, kubeconfig is not None, controllers)
