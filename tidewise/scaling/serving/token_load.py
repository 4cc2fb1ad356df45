"""tidewise's serving policy: replicas for the token load ahead, held as long as a cold start.

Every period it plans for the load that can arrive before a replica started now would be
Ready (the cold start, ``lookahead_s``):

* capacity: the request rate one replica carries within the objective, for the token mix of
  the last ten minutes (mean prompt from the arrivals, mean output from the completions), from
  the steady-state model of ``capacity.slo_rate`` under ``max_load``;
* demand: the recent level (last 5 minutes), plus the trend of the last 10 minutes when it
  rises significantly (over twice its standard error), extrapolated over the lookahead but
  no further than 5 minutes (half the window it was seen over), plus ``noise_sigmas`` times
  the spread of the minutes around that trend (what a minute may bring above it); or the
  forecaster's peak 5-minute level over the lookahead plus that spread, when a forecaster has
  a day of history (a daily ramp seen a day ago comes before it is seen now);
* backlog: waiting requests are drained within ``drain_s`` on top of the arrivals.

Scale-down waits: a replica is kept until the need for it has been gone for ``hold_s``
(default: the cold start). Re-creating it would cost a cold start of GPU time and of latency,
so keeping it that long costs at most twice the better of the two (the ski-rental bound).

Scale to zero (``min_replicas`` 0) when the service has been idle for ``hold_s``, the forecast
expects under one request over the lookahead, and the objective allows it: each return from
zero delays the requests of the minutes the cold start spans; those minutes come out of the
budget the attainment objective leaves (``1 - attainment`` of the minutes that saw requests).
Requests that arrive at zero are buffered, never dropped; they bring a replica back at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tidewise.model.inference import InferenceProfile, ServiceObjective
from tidewise.scaling.forecast import Forecaster
from tidewise.scaling.observation import ReplicaDecision
from tidewise.scaling.serving.capacity import slo_rate
from tidewise.scaling.serving.observation import ServingObservation

MINUTE_S = 60.0
DAY_S = 86_400.0
MIX_WINDOW_S = 600.0
LEVEL_WINDOW_S = 300.0
TREND_WINDOW_S = 600.0
REFORECAST_S = 300.0
DEFAULT_PROMPT = 1000.0
DEFAULT_OUTPUT = 200.0
PROMPT_TAIL = 3.0  # the TTFT tail is set by long prompts: about three times the mean


@dataclass
class TokenLoadScaler:
    profile: InferenceProfile
    objective: ServiceObjective = field(default_factory=ServiceObjective)
    forecaster: Forecaster | None = None
    min_replicas: int = 0
    max_replicas: int = 64
    max_load: float = 0.85
    noise_sigmas: float = 2.0
    drain_s: float = 30.0
    hold_s: float | None = None  # None: the cold start
    period_s: float = 10.0
    kept: deque[tuple[float, int]] = field(default_factory=deque)
    idle_since: float | None = None
    spent: deque[tuple[float, float]] = field(default_factory=deque)  # returns from zero
    _capacity: dict[tuple[int, int], float] = field(default_factory=dict)
    _forecast: tuple[float, float] | None = None  # (made at, peak rate over the lookahead)

    def __post_init__(self) -> None:
        if not 0 < self.max_load < 1:
            raise ValueError("max_load must be in (0, 1)")

    @property
    def lookahead_s(self) -> float:
        return self.profile.cold_start.seconds() + self.period_s

    @property
    def hold_for_s(self) -> float:
        return self.profile.cold_start.seconds() if self.hold_s is None else self.hold_s

    def recommend(self, obs: ServingObservation) -> ReplicaDecision:
        if not self.kept:  # what runs before the first look was needed for all we know
            self.kept.append((obs.now_s, obs.replicas))
        idle = self._track_idle(obs)
        if obs.replicas == 0:
            return self._from_zero(obs)
        per_replica = self.capacity(obs)
        rate, rule = self.demand(obs)
        need = math.ceil(rate / per_replica - 1e-9)
        if obs.waiting:
            backlog = obs.recent(obs.arrivals, MINUTE_S) / MINUTE_S + obs.waiting / self.drain_s
            if math.ceil(backlog / per_replica) > need:
                need, rule = math.ceil(backlog / per_replica), "backlog"
        if obs.waiting or obs.running:
            need = max(need, 1)
        need = min(max(need, self.min_replicas, 1), self.max_replicas)
        if self.min_replicas == 0 and idle >= self.hold_for_s and self._affordable(obs):
            self.kept.clear()
            return ReplicaDecision(0, "to zero")
        need, rule = self._hold(obs.now_s, need, rule)
        return ReplicaDecision(need, rule)

    def _track_idle(self, obs: ServingObservation) -> float:
        """Seconds since the service last had a request arriving or in flight."""
        if obs.waiting or obs.running or obs.recent(obs.arrivals, obs.history_step_s):
            self.idle_since = None
            return 0.0
        if self.idle_since is None:
            self.idle_since = obs.now_s
        return obs.now_s - self.idle_since

    def _from_zero(self, obs: ServingObservation) -> ReplicaDecision:
        """At zero: come back at once for a buffered request, or ahead of time when the
        forecast expects a request before a replica started now would be Ready."""
        peak = self._forecast_peak(obs, _per_minute(obs.arrivals, obs.history_step_s))
        expected = (peak or 0.0) * self.lookahead_s / MINUTE_S
        if not obs.waiting and expected < 1:
            return ReplicaDecision(0, "zero")
        self.spent.append((obs.now_s, self._cold_start_minutes(obs)))
        need = max(1, math.ceil(obs.waiting / self.drain_s / self.capacity(obs)))
        return ReplicaDecision(min(need, self.max_replicas), "from zero")

    def capacity(self, obs: ServingObservation) -> float:
        """Requests a second one replica serves within the objective, for the current mix."""
        arrived = obs.recent(obs.arrivals, MIX_WINDOW_S)
        done = obs.recent(obs.completions, MIX_WINDOW_S)
        prompt = (
            obs.recent(obs.prompt_tokens, MIX_WINDOW_S) / arrived if arrived else DEFAULT_PROMPT
        )
        output = obs.recent(obs.output_tokens, MIX_WINDOW_S) / done if done else DEFAULT_OUTPUT
        key = (_bucket(prompt), _bucket(output))
        if key not in self._capacity:
            mix = (self.profile, max(prompt, 1.0), max(output, 1.0))
            try:
                state = slo_rate(
                    *mix, self.objective, max_load=self.max_load, prompt_tail=PROMPT_TAIL * prompt
                )
            except ValueError:  # a mix no replica serves in time: size for the load alone
                state = slo_rate(*mix, None, max_load=self.max_load)
            self._capacity[key] = state.rate
        return self._capacity[key]

    def demand(self, obs: ServingObservation) -> tuple[float, str]:
        """The request rate to plan for over the lookahead, and which estimate set it."""
        minutes = _per_minute(obs.arrivals, obs.history_step_s)
        if not len(minutes):
            return obs.recent(obs.arrivals, MINUTE_S) / MINUTE_S, "level"
        recent = minutes[-round(TREND_WINDOW_S / MINUTE_S) :]
        level = float(minutes[-round(LEVEL_WINDOW_S / MINUTE_S) :].mean())
        slope, spread, significant = _trend(recent)
        # a trend is extrapolated no further than half the window it was seen over
        ahead = min(self.lookahead_s, TREND_WINDOW_S / 2) / MINUTE_S
        rising = significant and slope > 0
        estimate = level + (slope * ahead if rising else 0.0) + self.noise_sigmas * spread
        rule = "trend" if rising else "level"
        peak = self._forecast_peak(obs, minutes)
        if peak is not None and peak + self.noise_sigmas * spread > estimate:
            estimate, rule = peak + self.noise_sigmas * spread, "forecast"
        return max(estimate, 0.0) / MINUTE_S, rule

    def _forecast_peak(self, obs: ServingObservation, minutes: np.ndarray) -> float | None:
        """The forecast's highest level over the lookahead (requests per minute), refreshed
        every five minutes; None without a forecaster or a day of history. The forecast is
        averaged over the level window first: a seasonal forecast repeats yesterday's noisy
        minutes, and their maximum would count the noise that the spread term adds again."""
        if self.forecaster is None or len(minutes) < 1440:
            return None
        if self._forecast is None or obs.now_s >= self._forecast[0] + REFORECAST_S:
            width = round(LEVEL_WINDOW_S / MINUTE_S)
            horizon = max(1, math.ceil((self.lookahead_s + REFORECAST_S) / MINUTE_S)) + width
            ahead = self.forecaster.forecast(minutes, MINUTE_S, horizon)
            level = np.convolve(ahead, np.ones(width) / width, mode="valid")
            self._forecast = (obs.now_s, float(np.max(level)))
        return self._forecast[1]

    def _hold(self, now: float, need: int, rule: str) -> tuple[int, str]:
        self.kept.append((now, need))
        while self.kept and self.kept[0][0] < now - self.hold_for_s:
            self.kept.popleft()
        held = max(n for _, n in self.kept)
        return (held, "hold") if held > need else (need, rule)

    def _affordable(self, obs: ServingObservation) -> bool:
        """Whether the last day's attainment budget still holds one more return from zero:
        ``1 - attainment`` of the minutes that saw requests, less what returns spent."""
        now = obs.now_s
        while self.spent and self.spent[0][0] < now - DAY_S:
            self.spent.popleft()
        minutes = _per_minute(obs.arrivals, obs.history_step_s)[-round(DAY_S / MINUTE_S) :]
        budget = (1 - self.objective.attainment) * float(np.count_nonzero(minutes))
        return budget - sum(m for _, m in self.spent) >= self._cold_start_minutes(obs)

    def _cold_start_minutes(self, obs: ServingObservation) -> float:
        """Minutes with requests that a return from zero delays: the first, and each further
        minute of the cold start that sees a request at the recent rate."""
        rate = obs.recent(obs.arrivals, LEVEL_WINDOW_S) / LEVEL_WINDOW_S
        span = self.profile.cold_start.seconds() / MINUTE_S
        return 1.0 + max(span - 1.0, 0.0) * (1.0 - math.exp(-rate * MINUTE_S))


def _bucket(value: float) -> int:
    """Mixes within 5 % of each other share a capacity computation."""
    return round(math.log(max(value, 1.0)) / math.log(1.05))


def _per_minute(series: np.ndarray, step_s: float) -> np.ndarray:
    per = max(1, round(MINUTE_S / step_s))
    whole = len(series) // per * per
    return series[:whole].reshape(-1, per).sum(axis=1)


def _trend(values: np.ndarray) -> tuple[float, float, bool]:
    """Least-squares slope per step, the spread of the values around the line, and whether
    the slope is significant (over twice its standard error)."""
    if len(values) < 3:
        spread = math.sqrt(max(float(values.mean()), 0.0)) if len(values) else 0.0
        return 0.0, spread, False  # too few minutes: Poisson spread around the level
    x = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(x, values, 1)
    residual = values - (slope * x + intercept)
    spread = float(np.sqrt(np.sum(residual**2) / (len(values) - 2)))
    error = spread / math.sqrt(float(np.sum((x - x.mean()) ** 2)))
    return float(slope), spread, bool(abs(slope) > 2 * error)
