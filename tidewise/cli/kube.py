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
ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        envvar="TIDEWISE_CONTEXT",
        help="The kubeconfig context to use, as kubectl's --context; default: its current one.",
    ),
]
DEFAULT_KUBECONFIG = "~/.kube/config"
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
# a job's name: Kubeflow's training operator validates PyTorchJob names as DNS-1035 labels
# (a letter first), and a Job's name becomes its pods' job-name label (63 at most)
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*", re.I)


def kube_config(kubeconfig: Path | None, context: str | None = None) -> KubeConfig:
    """``kubeconfig``, else the pod's service account, ``$KUBECONFIG`` or ~/.kube/config, at
    ``context`` (default: the file's current context); one that cannot be read is the one
    error line, not a traceback. A pod's service account has no contexts: with ``context``
    given, a file is looked for as kubectl does."""
    if kubeconfig is not None:
        return read_kubeconfig(kubeconfig, "--kubeconfig", context)
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    if context is None:
        with contextlib.suppress(ConfigError, KeyError, OSError):
            return KubeConfig.from_service_account()
    if os.environ.get("KUBECONFIG"):
        path = Path(os.environ["KUBECONFIG"])
        return read_kubeconfig(path, "--kubeconfig ($KUBECONFIG)", context)
    path = Path(DEFAULT_KUBECONFIG).expanduser()
    if not path.exists():
        raise fail(
            f"--kubeconfig: none given, not in a pod, no $KUBECONFIG and no {DEFAULT_KUBECONFIG}; "
            "give a readable kubeconfig"
        )
    return read_kubeconfig(path, "--kubeconfig (~/.kube/config)", context)


def read_kubeconfig(path: Path, option: str, context: str | None = None) -> KubeConfig:
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
    if context is not None:
        names = [c.get("name") for c in data["contexts"] if isinstance(c, dict)]
        if context not in names:
            known = ", ".join(str(n) for n in names) or "none"
            raise fail(f"--context: {path} has no context {context!r} (contexts: {known})")
        data = {**data, "current-context": context}
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


def kube_service(kubeconfig: Path | None, context: str | None = None) -> KubeConfig:
    """Log as a long-running service does (without a line per API request), and the
    kubeconfig to reach the API server with."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return kube_config(kubeconfig, context)


def check_listen(option: str, host: str) -> None:
    """An address a service can bind: an IP address or a host name (``256.1.1.1`` is
    neither, though it reads as one)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return
    if re.fullmatch(r"[\d.]+", host) or not _HOSTNAME.fullmatch(host):
        raise fail(f"{option}: {host!r} is neither an IP address nor a host name, e.g. 0.0.0.0")


def check_name(
    option: str,
    name: str,
    what: str = "a DNS label, e.g. team-a",
    rule: re.Pattern[str] = DNS_LABEL,
) -> None:
    """A Kubernetes namespace (or other DNS-label name): refused here, in one line, rather
    than by the API server after the work is done (or never, in the twin)."""
    if not rule.fullmatch(name):
        raise fail(f"{option}: {name!r} is not {what}")


def run_until_interrupted(service: Callable[[], Awaitable[None]]) -> None:
    """Run ``service`` on a fresh event loop until it ends or Ctrl-C stops it."""

    async def main() -> None:
        await service()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
