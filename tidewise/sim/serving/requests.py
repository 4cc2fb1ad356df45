"""The requests an inference service replays: LLM request rows, or a rate trace's shape.

Two sources, one ``RequestTrace``:

* a request trace, one row per request with its arrival time and token counts (the Azure LLM
  inference trace 2023: ``TIMESTAMP``, ``ContextTokens``, ``GeneratedTokens``), replayed as it
  is;
* any request-rate trace (``load_rate_trace``: NASA's per-minute counts, a user's CSV) as the
  arrival shape over a window, scaled so that its busiest step reaches ``peak_rps``: each step
  draws a Poisson number of arrivals at that rate, spread uniformly over the step, and every
  request takes the prompt and output token counts of a random row of a request trace. One
  seeded ``numpy.random.Generator`` decides all of it, so a seed gives one day, bit for bit.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tidewise.sim.rate_trace import RateTrace, TraceError, parse_instant, read_trace

TIME_COLUMN = "TIMESTAMP"
PROMPT_COLUMN = "ContextTokens"
OUTPUT_COLUMN = "GeneratedTokens"


@dataclass(frozen=True)
class RequestTrace:
    """Requests in arrival order; times in seconds after ``start_unix_s``."""

    name: str
    start_unix_s: float
    arrival_s: np.ndarray  # float64, sorted
    prompt_tokens: np.ndarray  # int64, >= 1
    output_tokens: np.ndarray  # int64, >= 1
    duration_s: float  # the replayed window; arrivals lie in [0, duration_s)

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise ValueError("arrival, prompt and output arrays must have one entry per request")
        if n and np.any(np.diff(self.arrival_s) < 0):
            raise ValueError("arrivals must be sorted")

    def __len__(self) -> int:
        return len(self.arrival_s)


def is_request_trace(path: Path) -> bool:
    """True when the file's header names the request columns (else it is a rate trace)."""
    header = _read_rows(path, limit=1)[0]
    return {TIME_COLUMN, PROMPT_COLUMN, OUTPUT_COLUMN} <= {h.strip() for h in header}


def load_request_trace(path: Path) -> RequestTrace:
    rows = _read_rows(path)
    header = [h.strip() for h in rows[0]]
    missing = [c for c in (TIME_COLUMN, PROMPT_COLUMN, OUTPUT_COLUMN) if c not in header]
    if missing:
        raise TraceError(
            f"{path}: a request trace needs columns {TIME_COLUMN}, {PROMPT_COLUMN}, "
            f"{OUTPUT_COLUMN}; missing {', '.join(missing)}"
        )
    for line, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            raise TraceError(
                f"{path}:{line}: {len(row)} columns where the header has {len(header)} "
                "(a line cut short?)"
            )
    body = [r for r in rows[1:] if r]
    if not body:
        raise TraceError(f"{path}: no request rows")
    t_at, p_at, o_at = (header.index(c) for c in (TIME_COLUMN, PROMPT_COLUMN, OUTPUT_COLUMN))
    stamps = _instants([r[t_at] for r in body], path)
    try:
        prompt = np.array([int(r[p_at]) for r in body], dtype=np.int64)
        output = np.array([int(r[o_at]) for r in body], dtype=np.int64)
    except (ValueError, IndexError):
        raise TraceError(f"{path}: token columns must hold whole numbers") from None
    if np.any(prompt < 1) or np.any(output < 1):
        raise TraceError(f"{path}: every request needs >= 1 prompt and >= 1 output token")
    order = np.argsort(stamps, kind="stable")
    start = float(stamps[order[0]])
    arrival = stamps[order] - start
    # the window ends one mean gap after the last arrival: an hour-long file replays an hour
    gap = float(arrival[-1] / max(len(arrival) - 1, 1))
    return RequestTrace(
        path.name, start, arrival, prompt[order], output[order], float(arrival[-1]) + gap
    )


def requests_from_rates(
    rates: RateTrace,
    tokens: RequestTrace,
    rng: np.random.Generator,
    *,
    peak_rps: float,
    start_step: int = 0,
    steps: int | None = None,
) -> RequestTrace:
    """Arrivals shaped like ``rates[start_step : start_step + steps]``, busiest step at
    ``peak_rps``, with token counts drawn from ``tokens``' rows."""
    if peak_rps <= 0:
        raise ValueError("--peak-rps: a request rate > 0, e.g. 8")
    if not len(tokens):
        raise ValueError("the token source has no requests")
    stop = len(rates.values) if steps is None else start_step + steps
    if not 0 <= start_step < stop <= len(rates.values):
        raise ValueError(
            f"--start/--hours: the window lies outside the {rates.duration_s / 3600:.1f}-hour "
            f"trace {rates.name}"
        )
    window = rates.values[start_step:stop]
    if np.isnan(window).any():
        raise ValueError(
            f"--start/--hours: the window crosses {int(np.isnan(window).sum())} unobserved "
            f"steps of {rates.name}; pick a window without gaps"
        )
    busiest = float(window.max())
    if busiest <= 0:
        raise ValueError(f"--start/--hours: {rates.name} has no load in the window")
    rate = window / busiest * peak_rps  # requests per second in each step
    counts = rng.poisson(rate * rates.step_s)
    total = int(counts.sum())
    step_of = np.repeat(np.arange(len(window)), counts)
    arrival = np.sort((step_of + rng.random(total)) * rates.step_s)
    rows = rng.integers(0, len(tokens), size=total)
    return RequestTrace(
        f"{rates.name} x {tokens.name}",
        rates.start_unix_s + start_step * rates.step_s,
        arrival,
        tokens.prompt_tokens[rows],
        tokens.output_tokens[rows],
        len(window) * rates.step_s,
    )


def _read_rows(path: Path, limit: int | None = None) -> list[list[str]]:
    lines = io.StringIO(read_trace(path))  # a missing, binary or cut .gz file: one line
    rows = []
    for row in csv.reader(lines):
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise TraceError(f"{path}: empty file")
    return rows


def _instants(texts: list[str], path: Path) -> np.ndarray:
    """Unix seconds; numpy parses ISO times without a zone (UTC) fast, the rest row by row."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stamps = np.array(texts, dtype="datetime64[ns]")
        return stamps.astype(np.int64) / 1e9
    except (ValueError, Warning):
        pass
    try:
        return np.array([parse_instant(t) for t in texts])
    except TraceError as err:
        raise TraceError(f"{path}: column {TIME_COLUMN}: {err}") from None


def history_of(requests: RequestTrace, step_s: float) -> tuple[np.ndarray, ...]:
    """Per-step arrivals, prompt tokens and output tokens of ``requests`` over its window:
    what a metrics system would have kept of it (the days before a replay)."""
    slots = max(1, math.ceil(requests.duration_s / step_s))
    bins = np.minimum((requests.arrival_s // step_s).astype(np.int64), slots - 1)
    return (
        np.bincount(bins, minlength=slots).astype(float),
        np.bincount(bins, weights=requests.prompt_tokens, minlength=slots),
        np.bincount(bins, weights=requests.output_tokens, minlength=slots),
    )


def split(requests: RequestTrace, at_s: float) -> tuple[RequestTrace, RequestTrace]:
    """The requests before ``at_s`` and those after it (re-timed from ``at_s``)."""
    cut = int(np.searchsorted(requests.arrival_s, at_s, side="left"))
    before = RequestTrace(
        requests.name,
        requests.start_unix_s,
        requests.arrival_s[:cut],
        requests.prompt_tokens[:cut],
        requests.output_tokens[:cut],
        at_s,
    )
    after = RequestTrace(
        requests.name,
        requests.start_unix_s + at_s,
        requests.arrival_s[cut:] - at_s,
        requests.prompt_tokens[cut:],
        requests.output_tokens[cut:],
        requests.duration_s - at_s,
    )
    return before, after
