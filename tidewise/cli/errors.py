"""The one error style of the command: one line on stderr naming the field and the fix, exit
code 2, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

USAGE_ERROR = 2

# What each optional extra brings, by the name its modules are imported under (a module
# missing from this table is a bug, not a missing extra, and keeps its traceback; the test
# control plane's, a development tool, is answered by `tidewise testenv` itself).
EXTRA_OF_MODULE = {
    "aiohttp": "kube",
    "grpc": "kube",
    "google": "kube",  # protobuf, imported by the kubelet API stubs
    "httpx2": "kube",
    "kopf": "kube",
    "lightkube": "kube",
    "prometheus_client": "kube",
    "pynvml": "kube",
    "optuna": "sweep",
    "ray": "sweep",
}


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the command's one error line; raise what it returns."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=USAGE_ERROR)


@contextmanager
def user_errors(*errors: type[Exception]) -> Iterator[None]:
    """Bad input raised as any of ``errors`` (whose text already names the field and the fix)
    becomes the one error line."""
    try:
        yield
    except errors as error:
        raise fail(str(error)) from None


def missing_extra(command: str, error: ModuleNotFoundError) -> Exception:
    """The one line that says which extra to install when ``error`` is a module of one;
    ``error`` itself otherwise (a bug, which keeps its traceback)."""
    module = (error.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return error
    return fail(
        escape(
            f"`{command}` needs the {extra} extra (no module named {module!r}): "
            f"pip install 'tidewise[{extra}]'"
        )
    )
