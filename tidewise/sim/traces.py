"""Request-rate traces per minute, with explicit gaps: what a scenario's workloads replay.

A trace keeps what was not observed as NaN with its reason, so that a scenario whose window
crosses a gap fails loudly, or fills it in the way its author chose, never silently.
Any file the shared reader (``rate_trace.load_rate_trace``) reads is taken: a CSV with any
columns, ISO or Unix times and any regular step, or a Prometheus range-query answer, gzipped
or not. Its values are requests per minute, per second or per row (``RateUnit``); a step
other than a minute is resampled to minutes by integrating the rate, so that no request is
created or lost (the NASA-HTTP file of ``shared/data/nasa-http-1995`` is already per minute,
with ``status`` ``missing``/``outage`` marking the minutes not observed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

import numpy as np

from tidewise.sim.rate_trace import PROMETHEUS, RateTrace, TraceError, load_rate_trace

STEP_S = 60.0
BUILTIN_TRACES = {"nasa-http-1995": "nasa_ksc_requests_per_minute.csv.gz"}


class GapPolicy(StrEnum):
    ERROR = "error"  # refuse a window with gaps
    ZERO = "zero"  # no demand while unobserved
    PREVIOUS = "previous"  # hold the last observed value


class RateUnit(StrEnum):
    """What a trace's values count: requests in each minute, per second, or in each row."""

    PER_MINUTE = "per_minute"
    PER_SECOND = "per_second"  # a Prometheus rate(), the default for its answers
    PER_STEP = "per_step"


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


def load_minute_trace(
    path: Path,
    time_col: str | None = None,
    value_col: str | None = None,
    unit: RateUnit | None = None,
    options: tuple[str, str] = ("time_column", "value_column"),
) -> MinuteTrace:
    """Read any trace the shared reader reads, as requests per minute; ``unit`` defaults to
    per second for a Prometheus answer and per minute for a CSV."""
    rates = load_rate_trace(path, time_col, value_col, options)
    if unit is None:
        unit = RateUnit.PER_SECOND if rates.kind == PROMETHEUS else RateUnit.PER_MINUTE
    return per_minute(rates, unit)


def per_minute(rates: RateTrace, unit: RateUnit) -> MinuteTrace:
    """Requests in each whole minute from the trace's start: each row's rate held over its
    step and integrated, so a resampled trace carries as many requests as the file; a minute
    that touches a gap is a gap, with that gap's reason."""
    step = rates.step_s
    per_row = {
        RateUnit.PER_MINUTE: step / STEP_S,
        RateUnit.PER_SECOND: step,
        RateUnit.PER_STEP: 1.0,
    }[unit]
    gap = np.isnan(rates.values)
    counts = np.where(gap, 0.0, rates.values) * per_row
    reasons = rates.gap_reasons or tuple("gap" if g else "" for g in gap.tolist())
    if step == STEP_S:
        requests = np.where(gap, np.nan, counts)
        return MinuteTrace(rates.start_unix_s, requests, ~gap, reasons)
    minutes = int(len(counts) * step // STEP_S)
    if minutes == 0:
        raise TraceError(f"{rates.name}: shorter than a minute")
    edges = np.arange(len(counts) + 1) * step
    cuts = np.arange(minutes + 1) * STEP_S
    requests = np.diff(np.interp(cuts, edges, np.concatenate(([0.0], np.cumsum(counts)))))
    gap_s = np.diff(np.interp(cuts, edges, np.concatenate(([0.0], np.cumsum(gap * step)))))
    observed = gap_s <= 1e-9 * step
    minute_reasons = [""] * minutes
    for m in np.flatnonzero(~observed).tolist():
        first = int(m * STEP_S // step)
        last = min(int(np.ceil((m + 1) * STEP_S / step)), len(gap))
        minute_reasons[m] = next((reasons[i] or "gap" for i in range(first, last) if gap[i]), "gap")
    requests[~observed] = np.nan
    return MinuteTrace(rates.start_unix_s, requests, observed, tuple(minute_reasons))
