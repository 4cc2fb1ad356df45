"""Time axes and downsampling for the charts.

Charts place samples on a wall-clock axis through plotly's ``x0``/``dx`` instead of an array
of dates per trace: dates as text would cost more bytes than the samples themselves. Series
longer than a chart can show are averaged over buckets of whole steps, which keeps the page
small and leaves the area under each curve (cost, served demand) unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

MAX_POINTS = 5_000
"""Most samples per trace; wider than any screen, so bucketing below it is invisible."""


@dataclass(frozen=True, slots=True)
class Axis:
    """Where a trace's samples lie: the first at ``x0``, each next ``dx_ms`` later."""

    x0: str
    dx_ms: float
    factor: int
    """Steps averaged into one sample."""


def date(unix_s: float, utc_offset_s: float = 0.0) -> str:
    """The wall-clock date ``utc_offset_s`` east of UTC, in the form plotly's date axes parse
    (they have no time zones: the axis shows the clock it is given)."""
    zone = timezone(timedelta(seconds=utc_offset_s))
    return datetime.fromtimestamp(unix_s, zone).strftime("%Y-%m-%d %H:%M:%S")


def zone_name(utc_offset_s: float) -> str:
    """``UTC`` or ``UTC-04:00``: what a chart's time axis is labelled."""
    if not utc_offset_s:
        return "UTC"
    sign = "+" if utc_offset_s > 0 else "-"
    minutes = round(abs(utc_offset_s) / 60)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def axis(
    start_unix_s: float,
    step_s: float,
    n: int,
    max_points: int = MAX_POINTS,
    utc_offset_s: float = 0.0,
) -> Axis:
    """The axis for ``n`` samples of ``step_s`` seconds, bucketed to at most ``max_points``,
    on the clock ``utc_offset_s`` east of UTC."""
    factor = max(1, math.ceil(n / max_points))
    x0 = date(start_unix_s, utc_offset_s)
    return Axis(x0=x0, dx_ms=step_s * factor * 1000.0, factor=factor)


def bucket_means(values: Sequence[float] | np.ndarray, factor: int) -> np.ndarray:
    """Means over consecutive buckets of ``factor`` samples (the last may be shorter).

    Returned as float32: half the bytes in the page, and more digits than a chart shows.
    """
    v = np.asarray(values, dtype=np.float64)
    if factor == 1 or v.size == 0:
        return v.astype(np.float32)
    starts = np.arange(0, v.size, factor)
    counts = np.diff(np.append(starts, v.size))
    return (np.add.reduceat(v, starts) / counts).astype(np.float32)


def cumulative(values: Sequence[float] | np.ndarray, factor: int) -> np.ndarray:
    """Running total at t=0 and at the end of each bucket, so the line starts from zero."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.zeros(1)
    sums = np.add.reduceat(v, np.arange(0, v.size, factor))
    return np.concatenate(([0.0], np.cumsum(sums)))
