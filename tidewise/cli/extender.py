"""``tidewise extender``: the GPU-share scheduler extender as a service."""

from __future__ import annotations

from typing import Annotated

import typer

from tidewise.cli.kube import KubeconfigOption, check_listen, kube_service, run_until_interrupted

app = typer.Typer(
    help="The GPU-share scheduler extender kube-scheduler calls (docs/kubernetes.md).",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("serve")
def extender_serve(
    kubeconfig: KubeconfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8888,
) -> None:
    """Serve filter, prioritize and bind until interrupted."""
    from lightkube import AsyncClient

    check_listen("--host", host)

    from tidewise.kube.extender.server import serve

    config = kube_service(kubeconfig)

    async def run() -> None:
        await serve(AsyncClient(config, field_manager="tidewise-extender"), host, port)

    run_until_interrupted(run)
