from datetime import UTC, datetime

import numpy as np

from tidewise.scaling.observation import ServiceModel, ServiceObservation
from tidewise.scaling.predictive import PredictiveScaler

SERVICE = ServiceModel(replica_capacity=10.0, target_utilization=0.5)


def obs(t, load):
    return ServiceObservation(t, datetime.fromtimestamp(t, UTC), 1, (), load)


def repeat_yesterday(history, step_s, ahead):
    """A forecaster that repeats the value one day (1440 steps) ago."""
    period = int(86400 // step_s)
    return np.array([history[len(history) - period + k] for k in range(ahead)])


def test_asks_for_the_peak_within_the_lead_and_waits_for_a_day_of_history():
    day = np.where((np.arange(1440) >= 600) & (np.arange(1440) < 700), 100.0, 10.0)
    calls = []

    def forecast(history, step_s, ahead):
        calls.append(len(history))
        return repeat_yesterday(history, step_s, ahead)

    scaler = PredictiveScaler(SERVICE, forecast, lead_s=180, refit_s=900)
    for minute in range(1440 + 598):
        t = minute * 60.0
        scaler.observe(obs(t, float(day[minute % 1440])))
        got = scaler.replicas(obs(t, None))
        if minute < 1440:
            assert got is None
    # at 09:58 the next day, the 10:00 ramp is within the 3-minute lead: 100 / 5 = 20
    assert got == 20
    assert calls[0] == 1440 and len(calls) >= 2


def test_unobserved_steps_reach_the_forecaster_as_nan():
    seen = []

    def forecast(history, step_s, ahead):
        seen.append(history.copy())
        return np.full(ahead, 10.0)

    scaler = PredictiveScaler(SERVICE, forecast, lead_s=60, min_history_s=120)
    for minute in range(4):
        scaler.observe(obs(minute * 60.0, None if minute == 1 else 5.0))
    now = obs(240.0, 5.0)
    scaler.observe(now)  # closes the fourth step
    assert scaler.replicas(now) == 2
    np.testing.assert_array_equal(np.isnan(seen[0]), [False, True, False, False])
