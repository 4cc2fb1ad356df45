"""What the commands print and write: tables on stdout, progress and notes on stderr (so stdout
stays clean for tables and pipes), JSON and report files that appear whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tidewise.files import write_atomically

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write results here.")]


def check_output_folders(outputs: dict[str, Path | None]) -> None:
    """Refuse before any work when a file the user asked for could not be written."""
    for option, out in outputs.items():
        if out is not None and not out.parent.is_dir():
            raise ValueError(
                f"{option}: folder {out.parent} does not exist; create it or pick another"
            )
        if out is not None and out.is_dir():
            raise ValueError(f"{option}: {out} is a folder; give a file name in it")


def check_known(option: str, names: Iterable[str], known: Collection[str]) -> None:
    """``ValueError`` naming ``option`` when a name is not one of ``known``."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{option}: unknown {', '.join(unknown)}; known: {', '.join(known)}")


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def write_json(path: Path | None, document: Any) -> None:
    """``document`` as indented JSON at ``path``, when the user asked for it."""
    if path is not None:
        write_atomically(path, json_text(document))


def show(renderable: RenderableType) -> None:
    """A table (or any rich renderable) on stdout."""
    Console().print(renderable)


def note(text: str) -> None:
    """A remark on stderr, beside the table on stdout."""
    Console(stderr=True).print(text, highlight=False)


class Bars:
    """One progress bar per policy, set to a completed amount or advanced one step."""

    def __init__(self, progress: Progress, names: Iterable[str], total: float) -> None:
        self._progress = progress
        self._tasks = {name: progress.add_task(name, total=total) for name in names}

    def update(self, name: str, completed: float) -> None:
        self._progress.update(self._tasks[name], completed=completed)

    def advance(self, name: str, _step: object = None) -> None:
        self._progress.advance(self._tasks[name])


@contextmanager
def progress_bars(
    names: Iterable[str], total: float, done: str, quiet: bool
) -> Iterator[Bars | None]:
    """Bars on stderr for ``names`` (``done``: the column after each bar); ``None`` when
    ``quiet``, so the run is given no progress callback at all."""
    if quiet:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn(done),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        yield Bars(progress, names, total)
