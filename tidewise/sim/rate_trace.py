"""Any request-rate file as a regular series: the one trace reader of the project.

``tidewise bench autoscale``, ``tidewise plan commitments`` and the scenarios of ``tidewise
sim`` (through ``traces.load_minute_trace``) all read traces here, so a file one of them
takes, every one takes.

A CSV needs a header; time is ISO-8601 or Unix seconds. Rows are placed on a regular grid
whose step is the most common spacing of the rows; grid points without a row, rows whose
value is empty, and rows whose ``status`` column says ``missing`` or ``outage`` (the NASA
file's convention) are gaps (NaN). By default time is the first column and the value is the
first later column that is not the same instants written another way (the NASA file carries
both an ISO and a Unix time column).

A Prometheus range-query answer (the JSON of ``/api/v1/query_range``, as ``curl`` saves it) is
read the same way: its one series' samples are the rows (a ``NaN`` sample is a gap). Either
file may be gzipped (``.gz``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tidewise.files import InputError, read_input

_UNOBSERVED = {"missing", "outage"}
NO_ROW = "no row"  # the reason of a grid point that no row or sample covers
EMPTY = "empty"  # the reason of a row whose value is empty (or a NaN sample)
PROMETHEUS = "prometheus"  # the kind of a range-query answer; a CSV's kind is "csv"


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
class RateTrace:
    """``values[i]`` is the load during ``[start + i*step, start + (i+1)*step)``; NaN: gap."""

    name: str
    start_unix_s: float
    step_s: float
    values: np.ndarray
    value_column: str
    gap_reasons: tuple[str, ...] = ()  # per grid point: "" where observed, else why not
    kind: str = "csv"  # or PROMETHEUS

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
    path: Path,
    time_col: str | None = None,
    value_col: str | None = None,
    options: tuple[str, str] = ("--time-col", "--value-col"),
) -> RateTrace:
    """Read a CSV or a Prometheus range-query answer; ``options`` name the settings that
    choose the time and value columns, for the errors to point at (a flag or a field)."""
    text = read_trace(path)
    if text.lstrip().startswith("{"):
        return _prometheus(path, text)
    numbered = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)]
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
    time_option, value_option = options
    t_at = _column(header, time_col, 0, time_option, path)
    try:
        stamps = np.array([parse_instant(r[t_at]) for r in body])
    except (TraceError, IndexError) as err:
        raise TraceError(f"{path}: time column '{header[t_at]}': {err}") from None
    v_at = (
        _column(header, value_col, 0, value_option, path)
        if value_col is not None
        else _default_value_column(header, body, t_at, stamps, path, value_option)
    )
    status_at = header.index("status") if "status" in header else None
    values = np.empty(len(body))
    reasons = [""] * len(body)
    for i, row in enumerate(body):
        cell = row[v_at].strip() if v_at < len(row) else ""
        status = row[status_at].strip() if status_at is not None else ""
        if status in _UNOBSERVED or cell == "":
            values[i] = np.nan
            reasons[i] = status if status in _UNOBSERVED else EMPTY
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            raise TraceError(
                f"{path}:{i + 2}: value column '{header[v_at]}' holds '{cell}', not a number; "
                f"choose the column with {value_option}"
            ) from None
    if np.any(values < 0):
        raise TraceError(f"{path}: value column '{header[v_at]}' has negative values")
    return _on_grid(path, stamps, values, reasons, header[v_at], "csv")


def _prometheus(path: Path, text: str) -> RateTrace:
    """The one series of a ``/api/v1/query_range`` answer (or of its ``data`` object)."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as err:
        raise TraceError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if isinstance(answer, dict) and answer.get("status") == "error":
        raise TraceError(f"{path}: Prometheus answered an error: {answer.get('error')}")
    data = answer.get("data", answer) if isinstance(answer, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise TraceError(
            f"{path}: not a Prometheus range-query answer (no data.resultType 'matrix'); "
            "save the JSON of /api/v1/query_range"
        )
    series = data.get("result") or []
    if len(series) != 1:
        raise TraceError(
            f"{path}: {len(series)} series where one is needed; "
            "aggregate the query, e.g. sum(rate(http_requests_total[5m]))"
        )
    samples = series[0].get("values") or []
    if len(samples) < 2:
        raise TraceError(f"{path}: the series has {len(samples)} samples, at least two needed")
    try:
        stamps = np.array([float(t) for t, _ in samples])
        values = np.array([float(v) for _, v in samples])
    except (TypeError, ValueError):
        raise TraceError(f'{path}: samples must be [unix_s, "value"] pairs') from None
    if np.any(np.isinf(values)) or np.any(values < 0):
        raise TraceError(f"{path}: the series has negative or infinite values")
    reasons = [EMPTY if np.isnan(v) else "" for v in values]
    metric = series[0].get("metric") or {}
    column = ",".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"
    return _on_grid(path, stamps, values, reasons, column, PROMETHEUS)


def _on_grid(
    path: Path,
    stamps: np.ndarray,
    values: np.ndarray,
    reasons: list[str],
    column: str,
    kind: str,
) -> RateTrace:
    """Rows on the grid of their most common spacing; grid points without a row are gaps."""
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
    why = [NO_ROW] * len(grid)
    for slot, at in zip(slots.tolist(), order.tolist(), strict=True):
        why[slot] = reasons[at]
    return RateTrace(path.name, float(stamps[0]), step, grid, column, tuple(why), kind)


def _column(header: list[str], name: str | None, default: int, flag: str, path: Path) -> int:
    if name is None:
        return default
    if name in header:
        return header.index(name)
    raise TraceError(f"{path}: no column '{name}' for {flag}; columns: {', '.join(header)}")


def _default_value_column(
    header: list[str],
    body: list[list[str]],
    t_at: int,
    stamps: np.ndarray,
    path: Path,
    option: str,
) -> int:
    for at in range(t_at + 1, len(header)):
        try:
            other = np.array([parse_instant(r[at]) for r in body[:50]])
        except (TraceError, IndexError):
            return at
        if not np.allclose(other, stamps[:50]):
            return at
    raise TraceError(f"{path}: no value column after the time column; name it with {option}")
