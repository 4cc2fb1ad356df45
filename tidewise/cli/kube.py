"""What the commands that talk to a Kubernetes API server share: the kubeconfig option, reading
it, and running a service until it is interrupted. lightkube is imported only when a command
reads a kubeconfig, so the commands that never do need no kube extra."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tidewise.cli.errors import fail

if TYPE_CHECKING:
    from lightkube import KubeConfig

KubeconfigOption = Annotated[
    Path | None,
    typer.Option(help="Kubeconfig to reach the API server; default: in-cluster or ~/.kube."),
]


def kube_config(kubeconfig: Path | None) -> KubeConfig:
    """``kubeconfig``, else the pod's service account, ``$KUBECONFIG`` or ~/.kube/config; one
    that cannot be read is the one error line, not a traceback."""
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    try:
        return KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    except (ConfigError, OSError) as error:
        raise fail(f"--kubeconfig: {error}; give a readable kubeconfig") from None


def kube_service(kubeconfig: Path | None) -> KubeConfig:
    """Log as a long-running service does (without a line per API request), and the
    kubeconfig to reach the API server with."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return kube_config(kubeconfig)


def run_until_interrupted(service: Callable[[], Awaitable[None]]) -> None:
    """Run ``service`` on a fresh event loop until it ends or Ctrl-C stops it."""

    async def main() -> None:
        await service()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
