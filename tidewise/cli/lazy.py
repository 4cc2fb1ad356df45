"""A command group whose commands are imported only when one of them runs.

Each command group of ``tidewise`` lives in its own module, and most pull in heavy libraries
(numpy, plotly, lightkube...). Importing them all to print ``tidewise --help`` or to run
``tidewise job list`` cost seconds, so the root group knows each command by name, module and
help line only: ``--help`` is drawn from that table, and a command's module is imported when
that command is resolved to run (or to print its own help).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

# the click Context typer types its groups with (click's own, or the copy newer typers vendor)
ClickContext = Any


@dataclass(frozen=True)
class Lazy:
    """Where a command lives (``module``'s ``attribute``, a Typer app) and the help it shows
    in its parent's list; a test keeps ``help`` equal to the command's own. ``group``: the app
    is a group of subcommands, even of one (``tidewise plan commitments``); otherwise its one
    command is the command itself (``tidewise sim``)."""

    module: str
    attribute: str
    help: str
    group: bool = True

    def load(self) -> Any:
        app = getattr(importlib.import_module(self.module), self.attribute)
        return typer.main.get_group(app) if self.group else typer.main.get_command(app)


class Placeholder(TyperCommand):
    """Stands for a command not imported yet: enough to list it, and to suggest its name for
    a typo (the group's suggestions read the names it holds)."""

    def __init__(self, name: str, lazy: Lazy) -> None:
        super().__init__(name, help=lazy.help)
        self.lazy = lazy


class LazyGroup(TyperGroup):
    """A Typer group whose ``commands`` are first placeholders (from the ``lazy`` table of a
    subclass), each replaced by the real command when it is resolved."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, lazy in self.lazy.items():
            self.commands.setdefault(name, Placeholder(name, lazy))
        self._describing = False

    def get_command(self, ctx: ClickContext, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, Placeholder) and not self._describing:
            command = self.commands[cmd_name] = self.prepare(command.lazy.load())
        return command

    def prepare(self, command: Any) -> Any:
        """A command just imported, before it first runs: a subclass may add to it."""
        return command

    def format_help(self, ctx: ClickContext, formatter: Any) -> None:
        with self.describing():
            super().format_help(ctx, formatter)

    @contextmanager
    def describing(self) -> Iterator[None]:
        """While the group lists its commands, placeholders serve: nothing is imported."""
        self._describing = True
        try:
            yield
        finally:
            self._describing = False
