"""``tidewise fleet shift | watch | deck``: weighted traffic between clusters, for real.

Every command reads one fleet traffic file (``--config``, docs/traffic.md); the gateway options
override its ``gateway`` section. Events go to stdout as JSON lines, one per change, so a run
can be followed, piped and measured; errors are one line on stderr and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidewise.cli.errors import fail, user_errors
from tidewise.cli.kube import check_listen, read_kubeconfig
from tidewise.cli.output import Format, OutputOption, check_output_folders, print_document
from tidewise.files import write_atomically
from tidewise.fleet.failover import ScaleOptionalDown
from tidewise.fleet.traffic import ShiftRun, ShiftStatus, TrafficError, plan_shift
from tidewise.gateways import Gateway, GatewayError
from tidewise.gateways.config import ConfigError, FleetTraffic, load
from tidewise.gateways.deck import render_deck
from tidewise.gateways.degrade import DeploymentScaler
from tidewise.gateways.kong import KongGateway
from tidewise.gateways.loop import run_shift, run_watch
from tidewise.gateways.metrics import WatchMetrics
from tidewise.gateways.probe import Prober

app = typer.Typer(
    help="Weighted traffic between clusters: gradual shifts, failover, Kong decK files.",
    no_args_is_help=True,
    add_completion=False,
)


class Adapter(StrEnum):
    HAPROXY = "haproxy"
    KONG = "kong"


ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Fleet traffic file (YAML, docs/traffic.md).")
]
AdapterOption = Annotated[
    Adapter | None, typer.Option("--adapter", help="haproxy or kong (default: the file's).")
]
SocketOption = Annotated[
    str | None, typer.Option("--socket", help="HAProxy stats socket: unix path or host:port.")
]
BackendOption = Annotated[
    str | None, typer.Option("--backend", help="HAProxy backend whose servers are the clusters.")
]
AdminUrlOption = Annotated[str | None, typer.Option("--admin-url", help="Kong Admin API URL.")]
UpstreamOption = Annotated[
    str | None, typer.Option("--upstream", help="Kong upstream whose targets are the clusters.")
]


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _config(
    path: Path,
    adapter: Adapter | None,
    socket: str | None,
    backend: str | None,
    admin_url: str | None,
    upstream: str | None,
) -> FleetTraffic:
    overrides = {
        "adapter": adapter.value if adapter else None,
        "socket": socket,
        "backend": backend,
        "admin_url": admin_url,
        "upstream": upstream,
    }
    try:
        return load(path, **overrides)
    except ConfigError as err:
        raise fail(str(err)) from None


@app.command()
def shift(
    to: Annotated[str, typer.Option("--to", help="The cluster whose share changes.")],
    ratio: Annotated[int, typer.Option("--ratio", help="Its share at the end, in percent.")],
    config: ConfigOption,
    step: Annotated[int, typer.Option("--step", help="Percentage points per step.")] = 10,
    interval_s: Annotated[
        float, typer.Option("--interval-s", help="Seconds between a step and its health check.")
    ] = 10.0,
    adapter: AdapterOption = None,
    socket: SocketOption = None,
    backend: BackendOption = None,
    admin_url: AdminUrlOption = None,
    upstream: UpstreamOption = None,
) -> None:
    """Move traffic gradually to --ratio percent on --to; roll back if a health check fails."""
    settings = _config(config, adapter, socket, backend, admin_url, upstream)
    if interval_s < 0:
        raise fail(f"--interval-s: 0 or more seconds (got {interval_s})")
    with user_errors(TrafficError):  # what can be judged before the gateway is asked
        plan_shift(settings.desired(), to, ratio, step)
    prober = Prober(settings.health_urls(), settings.failover.timeout_s)
    try:
        gateway = settings.gateway_for()
        run = ShiftRun.plan(gateway.read_weights(), to, ratio, step)
        # the gates are read afresh at each step: a sync finishing mid-shift unblocks it
        run = run_shift(gateway, run, prober, lambda c: settings.gates()[c], interval_s, _emit)
    except (ConfigError, TrafficError, GatewayError) as err:
        raise fail(str(err)) from None
    finally:
        prober.close()
    if run.status is not ShiftStatus.DONE:
        raise fail(f"shift {run.status.value}: {run.reason}")


@app.command()
def watch(
    config: ConfigOption,
    duration_s: Annotated[
        float | None, typer.Option("--duration-s", help="Stop after this long (default: never).")
    ] = None,
    adapter: AdapterOption = None,
    socket: SocketOption = None,
    backend: BackendOption = None,
    admin_url: AdminUrlOption = None,
    upstream: UpstreamOption = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus /metrics here (weights, failover engaged, errors...).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address of /metrics.")
    ] = "0.0.0.0",
) -> None:
    """Failover: probe every cluster's health URL each interval and set weights accordingly."""
    settings = _config(config, adapter, socket, backend, admin_url, upstream)
    f = settings.failover
    if f.timeout_s >= f.interval_s:
        raise fail(
            f"failover.timeout_s: must be below interval_s ({f.timeout_s} >= {f.interval_s}), "
            "or probes would overlap ticks and stretch the failover bound"
        )
    if duration_s is not None and duration_s < 0:
        raise fail(f"--duration-s: 0 or more seconds, or leave it out (got {duration_s})")
    check_listen("--metrics-host", metrics_host)
    capacity = {n: c.capacity for n, c in settings.clusters.items() if c.capacity is not None}
    scaler = _scaler(settings)
    try:
        gateway = settings.gateway_for()
    except ConfigError as err:
        raise fail(str(err)) from None
    metrics = WatchMetrics()
    server = None if metrics_port is None else _serve(metrics, metrics_host, metrics_port)

    def emit(event: dict[str, Any]) -> None:
        metrics.observe(event)
        _emit(event)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    end = None if duration_s is None else time.monotonic() + duration_s
    prober = Prober(settings.health_urls(), f.timeout_s)
    _detect(gateway)
    started = {"event": "started", "bound_s": settings.bound_s(), "desired": settings.desired()}
    emit({**started, "gateway": gateway.describe()})
    try:
        run_watch(
            gateway,
            f.policy(),
            settings.desired(),
            prober,
            settings.read_gates,  # read afresh each tick: a sync's run file turns them green
            f.interval_s,
            emit,
            stop=lambda: stopping.is_set() or (end is not None and time.monotonic() >= end),
            capacity=capacity,
            hook=ScaleOptionalDown({n: c.optional for n, c in settings.clusters.items()}),
            degrade=scaler,
        )
    except KeyboardInterrupt:
        pass
    finally:
        prober.close()
        if server is not None:
            server.shutdown()


def _serve(metrics: WatchMetrics, host: str, port: int) -> Any:
    """``/metrics`` on ``host:port`` in a thread of its own; a port taken is one line."""
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as error:
        raise fail(f"--metrics-port: cannot listen on {host}:{port} ({error.strerror})") from None
    return server


def _detect(gateway: Gateway) -> None:
    """Ask Kong its mode now, so that the ``started`` event and ``status`` say which one is
    used; Kong down is not an error here (the first call will ask again)."""
    if isinstance(gateway, KongGateway):
        with contextlib.suppress(GatewayError):
            gateway.current_mode()


def _scaler(settings: FleetTraffic) -> DeploymentScaler | None:
    """Clients for the clusters that name a kubeconfig; none at all: decisions only reported."""
    kubeconfigs = {
        n: c.kubeconfig.expanduser() for n, c in settings.clusters.items() if c.kubeconfig
    }
    if not kubeconfigs:
        return None
    from lightkube import Client

    configs = {n: read_kubeconfig(p, f"clusters.{n}.kubeconfig") for n, p in kubeconfigs.items()}
    return DeploymentScaler(
        {n: Client(c, field_manager="tidewise-fleet") for n, c in configs.items()}
    )


@app.command()
def status(
    config: ConfigOption,
    adapter: AdapterOption = None,
    socket: SocketOption = None,
    backend: BackendOption = None,
    admin_url: AdminUrlOption = None,
    upstream: UpstreamOption = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """The traffic model now: each cluster's weight and share at the gateway, health, gates."""
    settings = _config(config, adapter, socket, backend, admin_url, upstream)
    prober = Prober(settings.health_urls(), settings.failover.timeout_s)
    try:
        gateway = settings.gateway_for()
        model = settings.model(gateway.read_weights(), prober())
        _detect(gateway)
    except (ConfigError, GatewayError) as err:
        raise fail(str(err)) from None
    finally:
        prober.close()
    share = model.shares()
    if output.is_document:
        clusters = [
            {
                "cluster": t.cluster,
                "address": t.address,
                "weight": t.weight,
                "share": share[t.cluster],
                "healthy": t.healthy,
                "gates_green": t.gates_green,
            }
            for t in model.targets
        ]
        print_document({"clusters": clusters, "gateway": gateway.describe()}, output)
        return
    table = Table("cluster", "address", "weight", "share", "healthy", "sync gates")
    for t in model.targets:
        gates = "green" if t.gates_green else "pending"
        table.add_row(
            t.cluster,
            t.address,
            str(t.weight),
            f"{share[t.cluster]:.0%}",
            "yes" if t.healthy else "NO",
            gates,
        )
    Console().print(table)
    Console().print(f"gateway: {gateway.describe()}", highlight=False, soft_wrap=True)


@app.command()
def deck(
    config: ConfigOption,
    upstream: UpstreamOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the file here (default: stdout; -o is a format everywhere)."
        ),
    ] = None,
) -> None:
    """Render the decK declarative file (format 3.0) for Kong: service, upstream, targets."""
    settings = _config(config, Adapter.KONG, None, None, None, upstream)
    text = render_deck(settings)
    if out is None:
        sys.stdout.write(text)
        return
    with user_errors(ValueError):
        check_output_folders({"--out": out})
    write_atomically(out, text)
