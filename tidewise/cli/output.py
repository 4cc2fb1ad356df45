"""What the commands print and write: tables on stdout, progress and notes on stderr (so stdout
stays clean for tables and pipes), JSON and report files that appear whole or not at all."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tidewise.files import write_atomically


class Format(StrEnum):
    """What ``-o`` prints on stdout, as kubectl's ``-o``: every command that shows a result
    takes the four (a command whose table has no hidden columns shows the same for wide)."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"

    @property
    def is_document(self) -> bool:
        return self in (Format.JSON, Format.YAML)


OutputOption = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        help="On stdout: table (fits 80 columns), wide (every column), json or yaml.",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write results here as JSON ('-': stdout).")
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Policies replayed at once, each in its own process (default: one per CPU).",
    ),
]
STDOUT = Path("-")


def check_output_folders(
    outputs: dict[str, Path | None], inputs: Iterable[Path | None] = ()
) -> None:
    """Refuse before any work when a file the user asked for could not be written, or when
    writing it would destroy something: an input of the same command, another output, a
    folder, or a device or pipe (a file is written beside it and renamed over it, which
    would replace ``/dev/stdout`` itself when run as root). ``-`` is stdout."""
    chosen: dict[Path, str] = {}
    for option, out in outputs.items():
        if out is None or out == STDOUT:
            continue
        if not out.parent.is_dir():
            raise ValueError(
                f"{option}: folder {out.parent} does not exist; create it or pick another"
            )
        if out.is_dir():
            raise ValueError(f"{option}: {out} is a folder; give a file name in it")
        if out.exists() and not out.is_file():
            raise ValueError(
                f"{option}: {out} is not a regular file (a device or a pipe); "
                "give a file path, or - for stdout"
            )
        for given in inputs:
            if given is not None and out.exists() and given.exists() and out.samefile(given):
                raise ValueError(f"{option}: {out} is this command's input; pick another file")
        resolved = out.resolve()
        if resolved in chosen:
            raise ValueError(f"{option}: {out} is also {chosen[resolved]}'s; pick another file")
        chosen[resolved] = option


def check_one_stdout(json_path: Path | None, output: Format) -> None:
    """``--json -`` takes stdout from the table; beside another ``-o`` the two would mix."""
    if json_path == STDOUT and output is not Format.TABLE:
        raise ValueError(f"--json -: stdout already carries -o {output}; give --json a file")


def check_known(option: str, names: Iterable[str], known: Collection[str]) -> None:
    """``ValueError`` naming ``option`` when a name is not one of ``known``."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{option}: unknown {', '.join(unknown)}; known: {', '.join(known)}")


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def write_json(path: Path | None, document: Any) -> None:
    """``document`` as indented JSON at ``path`` (``-``: stdout), when the user asked for it."""
    if path == STDOUT:
        sys.stdout.write(json_text(document))
    elif path is not None:
        write_atomically(path, json_text(document))


def print_document(document: Any, output: Format) -> None:
    """``document`` on stdout as ``-o json`` or ``-o yaml`` asked."""
    if output is Format.JSON:
        sys.stdout.write(json_text(document))
    elif output is Format.YAML:
        import yaml

        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
    else:
        raise ValueError(f"-o {output}: a table is the command's own to draw")


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


class Lines:
    """Progress as plain lines on stderr, one per tenth of the way, for a log or a CI job
    where bars would be either invisible or a screen of control characters."""

    def __init__(self, names: Iterable[str], total: float) -> None:
        self._total = total or 1.0
        self._done = dict.fromkeys(names, 0.0)
        self._tenths = dict.fromkeys(self._done, 0)

    def update(self, name: str, completed: float) -> None:
        self._done[name] = completed
        tenths = int(10 * completed / self._total)
        if tenths > self._tenths[name]:
            self._tenths[name] = tenths
            sys.stderr.write(f"{name}: {min(100, round(100 * completed / self._total))}%\n")
            sys.stderr.flush()

    def advance(self, name: str, _step: object = None) -> None:
        self.update(name, self._done[name] + 1)


@contextmanager
def progress_bars(
    names: Iterable[str], total: float, done: str, quiet: bool
) -> Iterator[Bars | Lines | None]:
    """Bars on stderr for ``names`` (``done``: the column after each bar), plain lines when
    stderr is not a terminal; ``None`` when ``quiet``, so the run is given no progress
    callback at all."""
    if quiet:
        yield None
        return
    if not Console(stderr=True).is_terminal:
        yield Lines(names, total)
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
