"""Request-rate traces: per-minute request counts with explicit gaps.

A trace keeps what was not observed as NaN with its reason, so that a scenario whose window
crosses a gap fails loudly, or fills it in the way its author chose, never silently.
Format: CSV (optionally gzipped) with columns ``unix_ts,requests[,status]``, one row per
minute; ``status`` is ``ok``/``partial`` (observed) or ``missing``/``outage`` (not
observed), as in the NASA-HTTP file of ``shared/data/nasa-http-1995``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

import numpy as np

from tidewise.files import InputError, read_input

STEP_S = 60.0
BUILTIN_TRACES = {"nasa-http-1995": "nasa_ksc_requests_per_minute.csv.gz"}
_UNOBSERVED = {"missing", "outage"}


class GapPolicy(StrEnum):
    ERROR = "error"  # refuse a window with gaps
    ZERO = "zero"  # no demand while unobserved
    PREVIOUS = "previous"  # hold the last observed value


class TraceError(ValueError):
    pass


def read_trace(path: Path) -> str:
    """A trace file's text, gunzipped when it ends in ``.gz``: a missing file, a folder, a
    binary or a gzip cut short is a :class:`TraceError` naming it."""
    try:
        return read_input(path)
    except InputError as error:
        raise TraceError(f"trace file {error}") from None


@dataclass(frozen=True)
class MinuteTrace:
    """Requests per minute from ``start_unix_s``; ``observed`` is False in gaps (NaN there)."""

    start_unix_s: float
    requests: np.ndarray
    observed: np.ndarray
    gap_reasons: tuple[str, ...]

    def window(self, start_unix_s: float, minutes: int, on_gap: GapPolicy) -> np.ndarray:
        """Requests per minute for ``minutes`` minutes from ``start_unix_s``, gaps resolved."""
        first = round((start_unix_s - self.start_unix_s) / STEP_S)
        if first < 0 or first + minutes > len(self.requests):
            raise TraceError(
                f"window of {minutes} min from unix {start_unix_s:.0f} is outside the trace "
                f"(it covers {len(self.requests)} min from unix {self.start_unix_s:.0f})"
            )
        values = self.requests[first : first + minutes].copy()
        observed = self.observed[first : first + minutes]
        gaps = int((~observed).sum())
        if gaps == 0:
            return values
        if on_gap is GapPolicy.ERROR:
            reasons = sorted({self.gap_reasons[first + i] for i in np.flatnonzero(~observed)})
            raise TraceError(
                f"window has {gaps} unobserved minutes ({', '.join(reasons)}); choose a window "
                "without gaps or set on_gap to 'zero' or 'previous'"
            )
        if on_gap is GapPolicy.ZERO:
            values[~observed] = 0.0
            return values
        last = 0.0
        for i in range(minutes):
            if observed[i]:
                last = values[i]
            else:
                values[i] = last
        return values


def builtin_trace_path(name: str) -> Path:
    if name not in BUILTIN_TRACES:
        raise TraceError(f"unknown builtin trace {name!r}; known: {', '.join(BUILTIN_TRACES)}")
    return Path(str(resources.files("tidewise.data").joinpath(BUILTIN_TRACES[name])))


def load_minute_trace(path: Path) -> MinuteTrace:
    """Read a per-minute trace; rows must be consecutive minutes."""
    reader = csv.DictReader(io.StringIO(read_trace(path)))
    if reader.fieldnames is None or not {"unix_ts", "requests"} <= set(reader.fieldnames):
        raise TraceError(f"{path}: needs columns unix_ts,requests[,status]")
    stamps: list[float] = []
    values: list[float] = []
    reasons: list[str] = []
    for line, row in enumerate(reader, start=2):
        status = (row.get("status") or "ok").strip()
        try:
            stamps.append(float(row["unix_ts"]))
            unobserved = status in _UNOBSERVED or row["requests"].strip() == ""
            values.append(float("nan") if unobserved else float(row["requests"]))
        except ValueError as err:
            raise TraceError(f"{path}:{line}: {err}") from None
        reasons.append(status if unobserved else "")
        if values[-1] < 0:
            raise TraceError(f"{path}:{line}: requests must be >= 0")
    if not stamps:
        raise TraceError(f"{path}: no rows")
    steps = np.diff(np.asarray(stamps))
    if len(steps) and not np.all(steps == STEP_S):
        bad = int(np.flatnonzero(steps != STEP_S)[0]) + 3
        raise TraceError(f"{path}:{bad}: rows must be consecutive minutes (60 s apart)")
    requests = np.asarray(values, dtype=float)
    return MinuteTrace(
        start_unix_s=stamps[0],
        requests=requests,
        observed=~np.isnan(requests),
        gap_reasons=tuple(reasons),
    )
