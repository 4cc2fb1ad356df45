"""Any request-rate CSV as a regular series: what ``tidewise bench autoscale`` replays.

The file needs a header; time is ISO-8601 or Unix seconds. Rows are placed on a regular grid
whose step is the most common spacing of the rows; grid points without a row, rows whose
value is empty, and rows whose ``status`` column says ``missing`` or ``outage`` (the NASA
file's convention) are gaps (NaN). By default time is the first column and the value is the
first later column that is not the same instants written another way (the NASA file carries
both an ISO and a Unix time column).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tidewise.sim.traces import TraceError, read_trace

_UNOBSERVED = {"missing", "outage"}


@dataclass(frozen=True)
class RateTrace:
    """``values[i]`` is the load during ``[start + i*step, start + (i+1)*step)``; NaN: gap."""

    name: str
    start_unix_s: float
    step_s: float
    values: np.ndarray
    value_column: str

    @property
    def observed(self) -> np.ndarray:
        return ~np.isnan(self.values)

    @property
    def duration_s(self) -> float:
        return len(self.values) * self.step_s


def parse_instant(text: str) -> float:
    """Unix seconds from a Unix number or an ISO-8601 timestamp (naive means UTC)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TraceError(f"'{text}' is neither Unix seconds nor an ISO-8601 time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def load_rate_trace(
    path: Path, time_col: str | None = None, value_col: str | None = None
) -> RateTrace:
    numbered = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(read_trace(path))), 1)]
    rows = [(n, row) for n, row in numbered if row]
    if len(rows) < 3:
        raise TraceError(f"{path}: needs a header and at least two rows")
    header = [h.strip() for h in rows[0][1]]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise TraceError(
                f"{path}:{line}: {len(row)} columns where the header has {len(header)} "
                "(a line cut short?)"
            )
    body = [row for _, row in rows[1:]]
    t_at = _column(header, time_col, 0, "--time-col", path)
    try:
        stamps = np.array([parse_instant(r[t_at]) for r in body])
    except (TraceError, IndexError) as err:
        raise TraceError(f"{path}: time column '{header[t_at]}': {err}") from None
    v_at = (
        _column(header, value_col, 0, "--value-col", path)
        if value_col is not None
        else _default_value_column(header, body, t_at, stamps, path)
    )
    status_at = header.index("status") if "status" in header else None
    values = np.empty(len(body))
    for i, row in enumerate(body):
        cell = row[v_at].strip() if v_at < len(row) else ""
        gap = cell == "" or (status_at is not None and row[status_at].strip() in _UNOBSERVED)
        try:
            values[i] = np.nan if gap else float(cell)
        except ValueError:
            raise TraceError(
                f"{path}:{i + 2}: value column '{header[v_at]}' holds '{cell}', not a number; "
                "choose the column with --value-col"
            ) from None
    if np.any(values < 0):
        raise TraceError(f"{path}: value column '{header[v_at]}' has negative values")
    order = np.argsort(stamps, kind="stable")
    stamps, values = stamps[order], values[order]
    steps = np.diff(stamps)
    positive = steps[steps > 0]
    if not len(positive):
        raise TraceError(f"{path}: all rows have the same time")
    step = float(np.median(positive))
    slots = np.rint((stamps - stamps[0]) / step).astype(np.int64)
    grid = np.full(int(slots[-1]) + 1, np.nan)
    grid[slots] = values
    return RateTrace(path.name, float(stamps[0]), step, grid, header[v_at])


def _column(header: list[str], name: str | None, default: int, flag: str, path: Path) -> int:
    if name is None:
        return default
    if name in header:
        return header.index(name)
    raise TraceError(f"{path}: no column '{name}' for {flag}; columns: {', '.join(header)}")


def _default_value_column(
    header: list[str], body: list[list[str]], t_at: int, stamps: np.ndarray, path: Path
) -> int:
    for at in range(t_at + 1, len(header)):
        try:
            other = np.array([parse_instant(r[at]) for r in body[:50]])
        except (TraceError, IndexError):
            return at
        if not np.allclose(other, stamps[:50]):
            return at
    raise TraceError(f"{path}: no value column after the time column; name it with --value-col")
