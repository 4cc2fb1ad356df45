"""What the commands that talk to a Kubernetes API server share: the kubeconfig option, reading
it, checking the address a service listens on, and running a service until it is interrupted.
lightkube is imported only when a command reads a kubeconfig, so the commands that never do
need no kube extra."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from tidewise.cli.errors import fail
from tidewise.files import InputError, read_input

if TYPE_CHECKING:
    from lightkube import KubeConfig

KubeconfigOption = Annotated[
    Path | None,
    typer.Option(help="Kubeconfig to reach the API server; default: in-cluster or ~/.kube."),
]
DEFAULT_KUBECONFIG = "~/.kube/config"
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*", re.I)


def kube_config(kubeconfig: Path | None) -> KubeConfig:
    """``kubeconfig``, else the pod's service account, ``$KUBECONFIG`` or ~/.kube/config; one
    that cannot be read is the one error line, not a traceback."""
    if kubeconfig is not None:
        return read_kubeconfig(kubeconfig, "--kubeconfig")
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    with contextlib.suppress(ConfigError, KeyError, OSError):
        return KubeConfig.from_service_account()
    if os.environ.get("KUBECONFIG"):
        return read_kubeconfig(Path(os.environ["KUBECONFIG"]), "--kubeconfig ($KUBECONFIG)")
    path = Path(DEFAULT_KUBECONFIG).expanduser()
    if not path.exists():
        raise fail(
            f"--kubeconfig: none given, not in a pod, no $KUBECONFIG and no {DEFAULT_KUBECONFIG}; "
            "give a readable kubeconfig"
        )
    return read_kubeconfig(path, "--kubeconfig (~/.kube/config)")


def read_kubeconfig(path: Path, option: str) -> KubeConfig:
    """The kubeconfig at ``path``, checked as far as it can be without the cluster: a YAML
    mapping of clusters, contexts and users whose current context names a known cluster.
    lightkube reads any YAML and fails later with a KeyError or AttributeError, so a
    binary, a list or a truncated file is caught here and named with ``option``."""
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    path = path.expanduser()
    try:
        data = yaml.safe_load(read_input(path))
    except InputError as error:
        raise fail(f"{option}: {error}") from None
    except yaml.YAMLError:
        raise fail(f"{option}: {path} is not YAML; give a kubeconfig") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("clusters", "contexts")
    ):
        raise fail(f"{option}: {path} is not a kubeconfig (no clusters and contexts lists)")
    try:
        config = KubeConfig.from_dict(data, fname=path)
        config.get()  # the current context, its cluster and its user resolve
    except (ConfigError, KeyError, TypeError, AttributeError, ValueError) as error:
        why = str(error) or type(error).__name__
        raise fail(f"{option}: {path} is not a usable kubeconfig ({why})") from None
    return config


@contextlib.contextmanager
def api_errors(option: str = "--kubeconfig") -> Iterator[None]:
    """The API server's refusals and its unreachability as one line naming ``option`` (the
    kubeconfig that led there) and exit 2."""
    from httpx2 import HTTPError  # what lightkube speaks HTTP with
    from lightkube.core.exceptions import ApiError

    try:
        yield
    except ApiError as error:
        raise fail(f"{option}: the API server refused ({error.status.message})") from None
    except HTTPError as error:
        raise fail(f"{option}: the API server is unreachable ({error})") from None


def kube_service(kubeconfig: Path | None) -> KubeConfig:
    """Log as a long-running service does (without a line per API request), and the
    kubeconfig to reach the API server with."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return kube_config(kubeconfig)


def check_listen(option: str, host: str) -> None:
    """An address a service can bind: an IP address or a host name (``256.1.1.1`` is
    neither, though it reads as one)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return
    if re.fullmatch(r"[\d.]+", host) or not _HOSTNAME.fullmatch(host):
        raise fail(f"{option}: {host!r} is neither an IP address nor a host name, e.g. 0.0.0.0")


def check_name(option: str, name: str, what: str = "a DNS label, e.g. team-a") -> None:
    """A Kubernetes namespace (or other DNS-label name)."""
    if not DNS_LABEL.fullmatch(name):
        raise fail(f"{option}: {name!r} is not {what}")


def run_until_interrupted(service: Callable[[], Awaitable[None]]) -> None:
    """Run ``service`` on a fresh event loop until it ends or Ctrl-C stops it."""

    async def main() -> None:
        await service()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
