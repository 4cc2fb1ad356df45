"""What every number given on the command line must be, whatever the command.

No tidewise option means anything with an infinite or not-a-number value, or with a whole
number past 2**31 - 1 (a count of nodes, replicas, GPUs, seconds or a seed): such values
slipped through each command's own checks (``nan <= 0`` is false) and reached numpy or the
simulator, which overflowed or ran without end. Rather than repeat the rule in every command,
:func:`check_numbers` adds it to every ``int`` and ``float`` option of a command when the root
group loads it; the command's own checks (ranges, signs) come after.
"""

from __future__ import annotations

import math
import typing
from typing import Any

import typer

MAX_WHOLE = 2**31 - 1
MAX_SEEDS = 1000


def check_numbers(command: Any) -> Any:
    """``command`` (and its subcommands) with the rule on each of its number options."""
    for sub in getattr(command, "commands", {}).values():
        check_numbers(sub)
    for param in getattr(command, "params", ()):
        types = _types(param.type_descriptor.annotation)
        if float in types:
            param.callback = _chained(param.callback, _finite)
        elif int in types and bool not in types:
            param.callback = _chained(param.callback, _bounded)
    return command


def _finite(value: float) -> None:
    if not math.isfinite(value):
        raise typer.BadParameter(f"a finite number (got {value})")


def _bounded(value: int) -> None:
    if abs(value) > MAX_WHOLE:
        raise typer.BadParameter(f"at most {MAX_WHOLE:,} in size (got {value:.3g})")


def _chained(callback: Any, check: Any) -> Any:
    def checked(ctx: Any, param: Any, value: Any) -> Any:
        values = value if isinstance(value, list | tuple) else [value]
        for one in values:
            if one is not None:
                check(one)
        return callback(ctx, param, value) if callback is not None else value

    return checked


def _types(annotation: Any) -> set[Any]:
    """The plain types in an annotation (``float | None`` -> float; ``list[int]`` -> int)."""
    inner = typing.get_args(annotation)
    return {t for a in inner for t in _types(a)} if inner else {annotation}


def parse_seeds(text: str) -> list[int]:
    """``42-51`` or ``42,45,50`` to a list of seeds (at most :data:`MAX_SEEDS`: each is a
    whole run of every policy, and a typo like 1-1000000000 must not fill the memory)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if last - first + 1 + len(seeds) > MAX_SEEDS:
                raise ValueError(f"--seeds: at most {MAX_SEEDS} seeds (got {text})")
            seeds.extend(range(first, last + 1))
    except ValueError as error:
        if str(error).startswith("--seeds"):
            raise
        raise ValueError("--seeds: give a range like 42-51 or a list like 42,43") from None
    if not seeds:
        raise ValueError("--seeds: give at least one seed, e.g. 42-51")
    if min(seeds) < 0:
        raise ValueError(f"--seeds: seeds are 0 or more (got {min(seeds)})")
    return seeds
