"""``tidewise extender``: the GPU-share scheduler extender as a service."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import fail
from tidewise.cli.kube import (
    KubeconfigOption,
    check_listen,
    check_name,
    kube_service,
    run_until_interrupted,
)

app = typer.Typer(
    help="The GPU-share scheduler extender kube-scheduler calls (docs/kubernetes.md).",
    no_args_is_help=True,
    add_completion=False,
)

TLS_FLAGS = "--tls-cert-file, --tls-private-key-file and --client-ca-file"


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def extender_serve(
    kubeconfig: KubeconfigOption = None,
    host: Annotated[
        str, typer.Option(help="Address of filter/prioritize/bind; 0.0.0.0 needs TLS.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of filter/prioritize/bind.")
    ] = 8888,
    health_host: Annotated[
        str, typer.Option(help="Address of /healthz, /readyz and /metrics (plain HTTP).")
    ] = "127.0.0.1",
    health_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of /healthz, /readyz, /metrics.")
    ] = 8081,
    tls_cert_file: Annotated[
        Path | None, typer.Option(help="Serving certificate (PEM): serve HTTPS.")
    ] = None,
    tls_private_key_file: Annotated[
        Path | None, typer.Option(help="Key of --tls-cert-file (PEM).")
    ] = None,
    client_ca_file: Annotated[
        Path | None,
        typer.Option(help="CA (PEM) that signed kube-scheduler's client certificate."),
    ] = None,
    client_name: Annotated[
        list[str] | None,
        typer.Option(help="Accept only a client certificate with this CN or DNS name; repeatable."),
    ] = None,
    lease_namespace: Annotated[
        str | None,
        typer.Option(help="Elect the replica that binds with a Lease in this namespace."),
    ] = None,
    lease_name: Annotated[str, typer.Option(help="Name of the Lease.")] = "tidewise-extender",
    lease_duration: Annotated[
        int, typer.Option(help="Seconds before a Lease not renewed may be taken over.")
    ] = 15,
    identity: Annotated[
        str | None, typer.Option(help="Holder identity in the Lease; default: host name-pid.")
    ] = None,
    pod_name: Annotated[
        str | None,
        typer.Option(envvar="POD_NAME", help="With --lease-namespace: label this pod's role."),
    ] = None,
    pod_namespace: Annotated[
        str | None, typer.Option(envvar="POD_NAMESPACE", help="Namespace of --pod-name.")
    ] = None,
    hami_annotations: Annotated[
        bool,
        typer.Option(help="Also write HAMi v2.10's pod annotations on nodes it registered."),
    ] = True,
) -> None:
    """Serve filter, prioritize and bind until interrupted: HTTPS requiring kube-scheduler's
    client certificate with the TLS files, else plain HTTP on a loopback address only."""
    from lightkube import AsyncClient

    check_listen("--host", host)
    check_listen("--health-host", health_host)
    if lease_namespace:
        check_name("--lease-namespace", lease_namespace)
    if identity is not None and not identity.strip():
        raise fail("--identity: empty; leave it out for host name-pid, or give a name")

    from tidewise.kube.extender.server import Election, Listen, serve
    from tidewise.kube.extender.tls import ServingTls, TlsFiles

    files = (tls_cert_file, tls_private_key_file, client_ca_file)
    if any(files) and not all(files):
        raise fail(f"{TLS_FLAGS} go together: give all three (docs/kubernetes.md)")
    tls = None
    if tls_cert_file and tls_private_key_file and client_ca_file:
        try:
            tls = ServingTls(TlsFiles(tls_cert_file, tls_private_key_file, client_ca_file))
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise fail(f"{TLS_FLAGS}: {error}; give readable PEM files that match") from None
    elif not loopback(host):
        raise fail(
            f"--host {host} without TLS lets anyone who reaches it bind any pod: give "
            f"{TLS_FLAGS}, or listen on 127.0.0.1"
        )
    if client_name and tls is None:
        raise fail(f"--client-name checks client certificates: give {TLS_FLAGS} too")
    if lease_duration < 3:
        raise fail("--lease-duration: at least 3 seconds (renewed every third of it)")
    config = kube_service(kubeconfig)
    listen = Listen(host, port, health_host, health_port, tls, tuple(client_name or ()))
    election = None
    if lease_namespace:
        pod = (pod_namespace or lease_namespace, pod_name) if pod_name else None
        who = identity or f"{socket.gethostname()}-{os.getpid()}"
        election = Election(lease_namespace, who, lease_name, lease_duration, pod)

    async def run() -> None:
        client = AsyncClient(config, field_manager="tidewise-extender")
        await serve(client, listen, election, hami=hami_annotations)

    try:
        run_until_interrupted(run)
    except OSError as error:  # the port is taken, the address is not this machine's
        raise fail(f"--host/--port/--health-port: {error}") from None
