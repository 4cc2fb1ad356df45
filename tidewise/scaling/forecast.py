"""Forecast a service's demand from its own history, for scaling out before the load arrives.

Every forecaster is a frozen value with one pure call, ``forecast(history, step_s,
horizon_steps)``: the history is the demand per step up to now (oldest first, NaN where it was
not observed), the answer is the expected demand for each of the next ``horizon_steps`` steps.
Nothing is kept between calls, so a simulation that re-forecasts every 15 minutes on a sliding
window needs no bookkeeping, and a restart loses nothing.

What they share (``clean_history``): a flash crowd must not come back tomorrow, so minutes far
from the local 3-hour median are treated as unobserved; then every unobserved minute takes the
median at that time of day over the other days. Crane's DSP predictor clips to
[P0.1, P99.9] instead, but an hour-long crowd is 60 minutes, more than the 0.1 % of even 14 days
(20 minutes), so most of it would survive. The forecasts describe normal demand: a crowd in
progress is the reactive scaler's to follow (Crane's EHPA takes the max of the predicted and
the observed metric for this reason).

Seasonality: a weekly cycle needs two weeks of history to be seen twice, a daily one a day; with
less than a day every forecaster holds the recent level. Cost per call with 14 days of
1-minute history (bench/forecast.py, 2 busy cores): ~0.05 ms ``recent-level``, ~8 ms
``seasonal-naive`` (the cleaning's running median), ~20 ms ``dsp`` (its permutation test),
40-130 ms ``holt-winters`` (the statsmodels fit, on 15-minute means of at most the last week).
Re-forecasting every 15 minutes is 672 calls per simulated week and service.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
# the recent level: long enough to average out per-minute noise, short enough to follow a ramp
LEVEL_WINDOW_S = 900.0
# an hour-long crowd is a third of this window, so the window's median stays normal
BASELINE_WINDOW_S = 3 * 3600.0
# robust sigma floor (log scale) so that a noiseless series does not flag every wiggle
MIN_SPREAD = 0.05
# Crane's DSP history: three days to test a daily cycle, fourteen for a weekly one
DAILY_HISTORY_S = 3 * DAY_S
WEEKLY_HISTORY_S = 14 * DAY_S
# cycles are detected on means of this long: as good for 1 d and 7 d, cheaper than per step
DETECTION_BUCKET_S = 900.0
# buckets the seasonal level smooths over: 0.5 ** 16 of weight is left beyond them
LEVEL_BUCKETS = 16


class Forecaster(Protocol):
    @property
    def name(self) -> str: ...

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        """Expected demand for each of the next ``horizon_steps`` steps after ``history``."""
        ...


def steps_in(seconds: float, step_s: float) -> int:
    return max(1, round(seconds / step_s))


def clean_history(history: np.ndarray, step_s: float, outlier_sigmas: float = 5.0) -> np.ndarray:
    """``history`` without gaps or outliers, each replaced by what is usual at that time of day.

    An outlier is a value more than ``outlier_sigmas`` robust standard deviations (log scale,
    so that the test is relative to the level) from the centred 3-hour running median.
    """
    values = np.asarray(history, dtype=float)
    if values.ndim != 1:
        raise ValueError("history must be one-dimensional")
    observed = np.isfinite(values)
    if not observed.any():
        raise ValueError("history has no observed value")
    if (values[observed] < 0).any():
        raise ValueError("demand cannot be negative")
    index = np.arange(len(values))
    interpolated = np.interp(index, index[observed], values[observed])
    window = steps_in(BASELINE_WINDOW_S, step_s) | 1
    baseline = median_filter(interpolated, size=window, mode="nearest")
    residual = np.log1p(values[observed]) - np.log1p(baseline[observed])
    centre = np.median(residual)
    spread = max(1.4826 * float(np.median(np.abs(residual - centre))), MIN_SPREAD)
    clean = values.copy()
    clean[index[observed][np.abs(residual - centre) > outlier_sigmas * spread]] = np.nan
    unknown = np.isnan(clean)
    if not unknown.any():
        return clean
    day = steps_in(DAY_S, step_s)
    cycles = _last_cycles(clean, day, math.ceil(len(clean) / day))
    seen = np.isfinite(cycles).any(axis=0)
    profile = np.full(day, np.nan)
    profile[seen] = np.nanmedian(cycles[:, seen], axis=0)
    phase = (index + cycles.size - len(clean)) % day
    clean[unknown] = profile[phase[unknown]]
    still = np.isnan(clean)
    if still.any():
        clean[still] = np.interp(index[still], index[~still], clean[~still])
    return clean


def recent_level(history: np.ndarray, step_s: float) -> float:
    """Mean of the observed demand over the last 15 minutes, crowds included.

    Falls back to the cleaned history when nothing was observed in that window.
    """
    values = np.asarray(history, dtype=float)
    tail = values[-steps_in(LEVEL_WINDOW_S, step_s) :]
    if np.isfinite(tail).any():
        return float(np.nanmean(tail))
    return float(clean_history(values, step_s)[-len(tail) :].mean())


def season_steps(length: int, step_s: float) -> int | None:
    """The longest cycle seen at least twice (a week), else once (a day), else none."""
    if length >= 2 * steps_in(WEEK_S, step_s):
        return steps_in(WEEK_S, step_s)
    if length >= steps_in(DAY_S, step_s):
        return steps_in(DAY_S, step_s)
    return None


def _last_cycles(values: np.ndarray, period: int, count: int) -> np.ndarray:
    """The last ``count`` cycles as rows, the last ending with ``values``; NaN before its start."""
    need = period * count
    tail = values[-need:]
    return np.concatenate([np.full(need - len(tail), np.nan), tail]).reshape(count, period)


def _flat(level: float, horizon_steps: int, margin: float) -> np.ndarray:
    return np.full(horizon_steps, max(level, 0.0) * (1 + margin))


def _check_horizon(horizon_steps: int) -> None:
    if horizon_steps < 0:
        raise ValueError("horizon_steps must be >= 0")


@dataclass(frozen=True)
class RecentLevel:
    """Persistence: the last 15 minutes' mean, held. The baseline the others must beat."""

    margin: float = 0.0

    @property
    def name(self) -> str:
        return "recent-level"

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        _check_horizon(horizon_steps)
        return _flat(recent_level(history, step_s), horizon_steps, self.margin)


@dataclass(frozen=True)
class SeasonalNaive:
    """The value one cycle ago, or the mean or max over the last ``cycles`` cycles at that time.

    The cycle is a week with two weeks of history, else a day; one call costs the cleaning
    (O(n) plus a running median) and one reduction over the cycles.
    """

    cycles: int = 1
    reduce: Literal["mean", "max"] = "mean"
    margin: float = 0.0

    @property
    def name(self) -> str:
        return "seasonal-naive" if self.cycles == 1 else f"seasonal-{self.reduce}{self.cycles}"

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        _check_horizon(horizon_steps)
        values = np.asarray(history, dtype=float)
        period = season_steps(len(values), step_s)
        if period is None:
            return _flat(recent_level(values, step_s), horizon_steps, self.margin)
        clean = clean_history(values, step_s)
        cycles = _last_cycles(clean, period, min(self.cycles, len(clean) // period))
        profile = cycles.max(axis=0) if self.reduce == "max" else cycles.mean(axis=0)
        return np.resize(profile, horizon_steps) * (1 + self.margin)


@dataclass(frozen=True)
class HoltWinters:
    """Damped-trend Holt-Winters with a daily cycle (statsmodels), fitted on bucket means.

    Fitting 1-minute points with a 1,440-step season is slow, so the fit sees ``bucket_s``
    means of the last ``fit_history_s`` (96 buckets a day at 15 minutes) and the forecast is
    interpolated back to steps between bucket centres. Needs two days (statsmodels initialises
    the season from two cycles); with one day it is the daily seasonal naive forecast, with
    less the recent level.
    """

    bucket_s: float = 900.0
    fit_history_s: float = WEEK_S
    seasonal: Literal["add", "mul"] = "add"
    margin: float = 0.0

    @property
    def name(self) -> str:
        return "holt-winters" if self.seasonal == "add" else "holt-winters-mul"

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        _check_horizon(horizon_steps)
        values = np.asarray(history, dtype=float)
        per_bucket = steps_in(self.bucket_s, step_s)
        season = steps_in(DAY_S, step_s) // per_bucket
        usable = min(len(values), steps_in(self.fit_history_s, step_s)) // per_bucket
        if usable < 2 * season:
            return SeasonalNaive(margin=self.margin).forecast(values, step_s, horizon_steps)
        clean = clean_history(values[-usable * per_bucket :], step_s)
        buckets = clean.reshape(usable, per_bucket).mean(axis=1)
        ahead = math.ceil(horizon_steps / per_bucket) + 1
        if np.ptp(buckets) == 0:
            predicted = np.full(ahead, buckets[0])
        else:
            # imported here: statsmodels takes over a second to load, which every `tidewise`
            # command would pay at start-up otherwise
            from statsmodels.tsa.holtwinters import ExponentialSmoothing

            seasonal = self.seasonal if buckets.min() > 0 else "add"
            model = ExponentialSmoothing(
                buckets,
                trend="add",
                damped_trend=True,
                seasonal=seasonal,
                seasonal_periods=season,
                initialization_method="heuristic",
            )
            with warnings.catch_warnings():  # non-convergence still leaves a usable fit
                warnings.simplefilter("ignore")
                predicted = model.fit(use_brute=False).forecast(ahead)
        centres = (np.arange(ahead) + 0.5) * per_bucket
        steps = np.interp(np.arange(horizon_steps) + 0.5, centres, predicted)
        return np.maximum(steps, 0.0) * (1 + self.margin)


@dataclass(frozen=True)
class SeasonalLevel:
    """Holt-Winters as it fits NASA-HTTP, without the fit: a smoothed level on a fixed day.

    Fitted on a week of NASA-HTTP's 15-minute means, statsmodels' damped Holt-Winters settles
    on trend and season smoothing 0 and level smoothing 0.4-0.7 (12 windows measured:
    bench/RESULTS.md, issue 22): a fixed daily shape plus an exponentially smoothed level.
    This forecast is that shape, the per-phase mean of the cleaned history over the last
    ``profile_history_s`` of whole days smoothed over ``bucket_s``, plus the
    ``level_smoothing``-weighted mean of how far the last ``bucket_s`` means sat from it.
    One cleaning and a few array passes: ~5 ms a call where the fit took 40-190 ms.
    With less than a day of history it is the recent level.
    """

    bucket_s: float = 900.0
    profile_history_s: float = WEEK_S
    level_smoothing: float = 0.5
    margin: float = 0.0

    @property
    def name(self) -> str:
        return "seasonal-level"

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        _check_horizon(horizon_steps)
        values = np.asarray(history, dtype=float)
        day = steps_in(DAY_S, step_s)
        days = min(len(values), steps_in(self.profile_history_s, step_s)) // day
        if days < 1:
            return _flat(recent_level(values, step_s), horizon_steps, self.margin)
        clean = clean_history(values[-days * day :], step_s).reshape(days, day)
        per_bucket = min(steps_in(self.bucket_s, step_s), day)
        profile = uniform_filter1d(clean.mean(axis=0), per_bucket, mode="wrap")
        # how far the last buckets sat from the profile, newest last, exponentially weighted
        residual = (clean - profile).ravel()
        buckets = min(LEVEL_BUCKETS, len(residual) // per_bucket)
        offsets = residual[len(residual) - buckets * per_bucket :]
        offsets = offsets.reshape(buckets, per_bucket).mean(axis=1)
        weights = (1 - self.level_smoothing) ** np.arange(buckets)[::-1]
        level = float(offsets @ weights / weights.sum())
        # the profile's last step is now's phase, so step k ahead is profile[k - 1]
        ahead = np.resize(profile, horizon_steps)
        return np.maximum(ahead + level, 0.0) * (1 + self.margin)


@dataclass(frozen=True)
class DSP:
    """Crane-like: find the dominant cycle in {1 d, 7 d}, then repeat its per-phase max or mean.

    A cycle counts when its spectral amplitude beats the 99th percentile of the largest
    amplitude of ``permutations`` shuffles of the series (shuffling keeps the values, destroys
    any cycle) and the circular autocorrelation has a local peak at its lag (rising before,
    falling after, by the slopes of straight-line fits, as Crane checks). A week is preferred
    when the series resembles itself a week ago more than a day ago. Detection runs on 15-minute
    means, so its cost does not grow with the step. With no cycle it is the recent level.

    ``estimator="max"`` repeats the per-phase max over the cycles of Crane's history (3 days or
    2 weeks); ``"fft"`` repeats their mean cycle low-passed to its ``components`` strongest
    harmonics. Permutations use ``seed``, so equal inputs give equal forecasts.
    """

    estimator: Literal["max", "fft"] = "max"
    components: int = 20
    permutations: int = 100
    seed: int = 0
    margin: float = 0.0

    @property
    def name(self) -> str:
        return f"dsp-{self.estimator}"

    def forecast(self, history: np.ndarray, step_s: float, horizon_steps: int) -> np.ndarray:
        _check_horizon(horizon_steps)
        values = np.asarray(history, dtype=float)
        day = steps_in(DAY_S, step_s)
        if len(values) < day:
            return _flat(recent_level(values, step_s), horizon_steps, self.margin)
        clean = clean_history(values, step_s)
        period = self.dominant_period(clean, step_s)
        if period is None:
            return _flat(recent_level(values, step_s), horizon_steps, self.margin)
        history_s = WEEKLY_HISTORY_S if period > day else DAILY_HISTORY_S
        count = max(1, min(steps_in(history_s, step_s), len(clean)) // period)
        cycles = _last_cycles(clean, period, count)
        if self.estimator == "max":
            profile = cycles.max(axis=0)
        else:
            spectrum = np.fft.rfft(cycles.mean(axis=0))
            weakest = np.argsort(np.abs(spectrum[1:]))[
                : max(0, len(spectrum) - 1 - self.components)
            ]
            spectrum[1 + weakest] = 0
            profile = np.maximum(np.fft.irfft(spectrum, n=period), 0.0)
        return np.resize(profile, horizon_steps) * (1 + self.margin)

    def dominant_period(self, clean: np.ndarray, step_s: float) -> int | None:
        """Steps per dominant cycle of a gap-free history, or None when none is significant.

        A day with less than two days of history, where one cycle cannot be tested.
        """
        per_bucket = steps_in(DETECTION_BUCKET_S, step_s)
        usable = min(len(clean), steps_in(WEEKLY_HISTORY_S, step_s)) // per_bucket
        buckets = clean[len(clean) - usable * per_bucket :].reshape(usable, per_bucket).mean(1)
        day, week = (steps_in(s, step_s * per_bucket) for s in (DAY_S, WEEK_S))
        if usable < 2 * day:
            return steps_in(DAY_S, step_s)
        rng = np.random.default_rng(self.seed)
        found = {p: self._is_cycle(buckets, p, rng) for p in (day, week) if usable >= 2 * p}
        if found.get(week):
            acf = _circular_acf(buckets[len(buckets) % week :])
            if not found[day] or acf[week] > acf[day]:
                return steps_in(WEEK_S, step_s)
        return steps_in(DAY_S, step_s) if found[day] else None

    def _is_cycle(self, series: np.ndarray, period: int, rng: np.random.Generator) -> bool:
        series = series[len(series) % period :]
        centred = series - series.mean()
        amplitude = np.abs(np.fft.rfft(centred))
        shuffled = rng.permuted(np.tile(centred, (self.permutations, 1)), axis=1)
        noise = np.abs(np.fft.rfft(shuffled, axis=1))[:, 1:].max(axis=1)
        if amplitude[len(series) // period] <= np.percentile(noise, 99):
            return False
        acf = _circular_acf(series)
        width = max(2, period // 8)
        left = acf[np.arange(period - width, period + 1) % len(acf)]
        right = acf[np.arange(period, period + width + 1) % len(acf)]
        x = np.arange(width + 1)
        return bool(np.polyfit(x, left, 1)[0] > 0 > np.polyfit(x, right, 1)[0])


def _circular_acf(series: np.ndarray) -> np.ndarray:
    centred = series - series.mean()
    power = np.abs(np.fft.rfft(centred)) ** 2
    acf = np.fft.irfft(power, n=len(series))
    return acf / acf[0] if acf[0] > 0 else acf


def forecaster_named(name: str, margin: float = 0.0) -> Forecaster:
    """The default forecaster of each kind, by the name a scenario or the bench uses."""
    kinds: dict[str, Forecaster] = {
        "recent-level": RecentLevel(margin=margin),
        "seasonal-naive": SeasonalNaive(margin=margin),
        "holt-winters": HoltWinters(margin=margin),
        "seasonal-level": SeasonalLevel(margin=margin),
        "dsp-max": DSP(estimator="max", margin=margin),
        "dsp-fft": DSP(estimator="fft", margin=margin),
    }
    if name not in kinds:
        raise ValueError(f"unknown forecaster {name!r}; known: {', '.join(kinds)}")
    return kinds[name]
