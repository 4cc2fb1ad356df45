"""Pre-scaling from a forecast of the service's own load.

A pod asked for now is Ready ``startup_s`` later, so the count asked for at time t must carry
the load up to t + lead, with lead = start-up + margin. The scaler keeps the load it observed
per step (its explicit memory, NaN while unobserved), refits the forecaster every
``refit_s`` on up to ``history_s`` of it, and takes the highest forecast level L in
[t, t + lead]. A forecast is a level, and single minutes scatter around it; so the answer is
the larger of: the replicas that carry L at the target utilisation, and the replicas whose
full capacity carries L + z * sqrt(d * L), the upper 99.9 % of minutes under the
over-dispersed Poisson noise measured over the last day (``dispersion``). At low load the
noise term dominates, at high load the target does. The combined policy takes the max with
the reactive rule, so a forecast only ever adds replicas (as AWS predictive scaling).

Given a ``ServiceLevel`` (``level``), the answer is instead the square-root staffing count
(``scaling.slo``) for L at that level's risk per minute, on the same measured dispersion, with
no target utilisation, and never less than the replicas that carry the load observed now at
full capacity, since a forecast's level lags a ramp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tidewise.scaling.observation import ServiceModel, ServiceObservation
from tidewise.scaling.slo import ServiceLevel

Forecast = Callable[[np.ndarray, float, int], np.ndarray]
"""(history with NaN gaps, step seconds, steps ahead) -> forecast of the next steps."""

DAY_S = 86_400.0
UPPER_Z = 3.09  # one-sided 99.9 %: the served share a violation minute is measured against
LEVEL_STEPS = 15  # the local level the noise is measured around
MEDIAN_CHI2_1 = 0.455  # median of a squared standard normal: turns a median into a variance
REFIT_S = 900.0
"""How often the forecaster is refit by default: a Holt-Winters fit takes 40-130 ms, so every
15 minutes. A cheap forecaster may be refit more often (``refit_s``): its level then lags less."""
TIDEWISE_REFIT_S = 60.0
"""tidewise's refit period, in the twin's policy and in the ElasticScaler alike: a level up to
15 minutes stale is what most overloaded minutes came from; on the default week refitting
every minute bought 48 fewer violation minutes for the same cost, which the GPU tier's looser
level (0.3 %) turned into 3.5 % off the bill (bench/RESULTS.md, issue 21 final). A fit a
minute per scaler is cheap next to a reconcile (40-130 ms for Holt-Winters)."""


def dispersion(history: np.ndarray) -> float:
    """Variance over mean of the load around its local level (1 for Poisson arrivals).

    Request counts per minute scatter around their level roughly like an over-dispersed
    Poisson process, variance = d x level; d is estimated robustly (a median, so flash
    crowds do not inflate it) over the given history. 1 when there is too little of it.
    """
    values = np.asarray(history, dtype=float)
    if len(values) <= 4 * LEVEL_STEPS:
        return 1.0
    level = np.convolve(np.nan_to_num(values), np.ones(LEVEL_STEPS) / LEVEL_STEPS, mode="same")
    ok = ~np.isnan(values) & (level > 0)
    if ok.sum() <= 4 * LEVEL_STEPS:
        return 1.0
    return float(np.median((values[ok] - level[ok]) ** 2 / level[ok]) / MEDIAN_CHI2_1)


@dataclass
class PredictiveScaler:
    service: ServiceModel
    forecast: Forecast
    lead_s: float
    step_s: float = 60.0
    refit_s: float = REFIT_S
    history_s: float = 14 * DAY_S
    min_history_s: float = DAY_S
    z: float = UPPER_Z
    origin_s: float = 0.0  # the time of step 0: a controller on epoch seconds starts it now
    level: ServiceLevel | None = None  # size to this service level, not to the target
    horizon_s: float = 0.0  # the furthest any caller looks ahead (a headroom's), if past lead_s
    _dispersion: float = field(default=1.0, init=False)
    _history: list[float] = field(default_factory=list, init=False)
    _step_sum: float = field(default=0.0, init=False)
    _step_n: int = field(default=0, init=False)
    _step_index: int = field(default=0, init=False)
    _predicted: np.ndarray = field(default_factory=lambda: np.empty(0), init=False)
    _predicted_from: int = field(default=0, init=False)  # step index of _predicted[0]
    _fitted_at: float = field(default=-math.inf, init=False)
    _peak: tuple[int, int, float | None] = field(default=(-1, -1, None), init=False)

    def observe(self, obs: ServiceObservation) -> None:
        """Record the load; call once per tick, ticks in time order."""
        index = self._step_of(obs.now_s)
        while self._step_index < index:
            self._history.append(self._step_sum / self._step_n if self._step_n else math.nan)
            self._step_sum, self._step_n = 0.0, 0
            self._step_index += 1
        if obs.load is not None:
            self._step_sum += obs.load
            self._step_n += 1

    def replicas(self, obs: ServiceObservation, lead_s: float | None = None) -> int | None:
        """Replicas for the highest forecast load within ``lead_s`` (the scaler's lead by
        default; a longer one up to ``horizon_s`` for a headroom); None until enough history.

        With a service level, from the first observation on (``_leveled``; the noise measured
        on what history there is), so no warm-up is left unscaled."""
        ahead = self._forecast_peak(obs, self.lead_s if lead_s is None else lead_s)
        if self.level is not None:
            return self._leveled(ahead, obs.load)
        if ahead is None:
            return None
        bound = ahead + self.z * math.sqrt(self._dispersion * max(ahead, 0.0))
        full = math.ceil(bound / self.service.replica_capacity - 1e-9)
        return max(full, self.service.replicas_for(ahead))

    def _leveled(self, ahead: float | None, now: float | None) -> int | None:
        """The forecast's peak sized to the level, and never fewer replicas than carry the
        load seen now at full capacity (a ramp the forecast's level has not caught up with;
        the minute seen is one draw of the noise already, so no noise term is added to it).
        Without a forecast yet, the load seen now stands for the level."""
        capacity = self.service.replica_capacity
        assert self.level is not None
        if ahead is None:
            return None if now is None else self.level.replicas(now, capacity, self._dispersion)
        carried = 0 if now is None else math.ceil(now / capacity - 1e-9)
        return max(self.level.replicas(ahead, capacity, self._dispersion), carried)

    def _forecast_peak(self, obs: ServiceObservation, lead_s: float) -> float | None:
        """The highest forecast load within ``lead_s``; None until enough history."""
        enough = len(self._history) * self.step_s >= self.min_history_s
        unforecast = enough and not len(self._predicted)
        if unforecast or (
            (enough or self.level is not None) and obs.now_s - self._fitted_at >= self.refit_s
        ):
            self._refit(obs.now_s, forecast=enough)
        if not enough:
            return None
        first = max(self._step_of(obs.now_s) - self._predicted_from, 0)
        last = self._step_of(obs.now_s + lead_s) - self._predicted_from
        if self._peak[:2] != (first, last):  # ticks within one step look at the same window
            window = self._predicted[first : last + 1]
            empty = not len(window) or np.all(np.isnan(window))
            self._peak = (first, last, None if empty else float(np.nanmax(window)))
        return self._peak[2]

    def _step_of(self, now_s: float) -> int:
        return int((now_s - self.origin_s) // self.step_s)

    def _refit(self, now_s: float, forecast: bool = True) -> None:
        keep = int(self.history_s // self.step_s)
        history = np.asarray(self._history[-keep:], dtype=float)
        self._fitted_at = now_s
        self._dispersion = dispersion(history[-int(DAY_S // self.step_s) :])
        if forecast:
            lead_s = max(self.lead_s, self.horizon_s)
            ahead = math.ceil((self.refit_s + lead_s) / self.step_s) + 1
            self._predicted = np.asarray(self.forecast(history, self.step_s, ahead), dtype=float)
            self._predicted_from = len(self._history)
            self._peak = (-1, -1, None)
