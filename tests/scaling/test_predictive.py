from datetime import UTC, datetime

import numpy as np

from tidewise.scaling.observation import ServiceModel, ServiceObservation
from tidewise.scaling.predictive import PredictiveScaler, dispersion
from tidewise.scaling.slo import ServiceLevel

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


def test_a_clock_in_epoch_seconds_starts_the_history_at_origin():
    """A controller's clock reads 1.7e9 s; with ``origin_s`` at its start the scaler keeps
    the same history (and answers) as one whose clock starts at 0."""
    epoch = 1_764_316_800.0
    plain = PredictiveScaler(SERVICE, repeat_yesterday, lead_s=180)
    shifted = PredictiveScaler(SERVICE, repeat_yesterday, lead_s=180, origin_s=epoch)
    for minute in range(1440 + 30):
        load = 10.0 + minute % 7
        plain.observe(obs(minute * 60.0, load))
        shifted.observe(obs(epoch + minute * 60.0, load))
    assert shifted.replicas(obs(epoch + 1469 * 60.0, None)) == plain.replicas(
        obs(1469 * 60.0, None)
    )
    assert plain.replicas(obs(1469 * 60.0, None)) is not None


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


def test_dispersion_of_poisson_counts_is_about_one_and_ignores_a_crowd():
    rng = np.random.default_rng(3)
    counts = rng.poisson(40.0, 1440).astype(float)
    assert 0.8 < dispersion(counts) < 1.25
    counts[600:660] *= 6  # a one-hour flash crowd
    assert dispersion(counts) < 1.5
    assert dispersion(counts[:30]) == 1.0  # too little to tell: Poisson


def test_low_load_is_sized_for_its_noise_high_load_for_the_target():
    service = ServiceModel(replica_capacity=10.0, target_utilization=0.7)
    flat = PredictiveScaler(service, lambda h, s, a: np.full(a, 20.0), lead_s=60, min_history_s=0)
    flat.observe(obs(0.0, 20.0))
    # 20 + 3.09 x sqrt(20) = 33.8 -> 4 replicas at full capacity; at 70 % only 3
    assert flat.replicas(obs(60.0, 20.0)) == 4
    busy = PredictiveScaler(service, lambda h, s, a: np.full(a, 2000.0), lead_s=60, min_history_s=0)
    busy.observe(obs(0.0, 2000.0))
    assert busy.replicas(obs(60.0, 2000.0)) == 286  # 2000 / 7: the target dominates


def test_with_a_service_level_the_forecast_is_sized_to_it_not_to_the_target():
    service = ServiceModel(replica_capacity=10.0, target_utilization=0.7)
    level = ServiceLevel(overload_risk=0.05)
    flat = PredictiveScaler(
        service, lambda h, s, a: np.full(a, 20.0), lead_s=60, min_history_s=0, level=level
    )
    flat.observe(obs(0.0, 20.0))
    # 20 + 1.645 x sqrt(20) = 27.4 -> 3 (the 99.9 % bound asks 4)
    assert flat.replicas(obs(60.0, 20.0)) == 3
    busy = PredictiveScaler(
        service, lambda h, s, a: np.full(a, 2000.0), lead_s=60, min_history_s=0, level=level
    )
    busy.observe(obs(0.0, 2000.0))
    # 2000 + 1.645 x 44.7 = 2073.6 -> 208, where the 70 % target asks 286
    assert busy.replicas(obs(60.0, 2000.0)) == 208


def test_with_a_service_level_the_load_seen_now_is_sized_from_the_first_minute():
    """No warm-up left unscaled: before a day of history there is no forecast, but the load
    observed now is sized to the level; and a ramp above the forecast's level counts."""
    service = ServiceModel(replica_capacity=10.0, target_utilization=0.7)
    level = ServiceLevel(overload_risk=0.05)
    scaler = PredictiveScaler(service, lambda h, s, a: np.full(a, 20.0), lead_s=60, level=level)
    scaler.observe(obs(0.0, 20.0))
    assert scaler.replicas(obs(0.0, 20.0)) == 3  # Poisson until measured: 20 + 1.645 x 4.47
    assert scaler.replicas(obs(0.0, None)) is None  # nothing forecast, nothing observed
    plain = PredictiveScaler(service, lambda h, s, a: np.full(a, 20.0), lead_s=60)
    assert plain.replicas(obs(0.0, 20.0)) is None
    ramp = PredictiveScaler(
        service, lambda h, s, a: np.full(a, 20.0), lead_s=60, min_history_s=0, level=level
    )
    ramp.observe(obs(0.0, 20.0))
    # 80 rps now, the level still 20 (which asks 3): 8 replicas carry 80 at full capacity
    assert ramp.replicas(obs(60.0, 80.0)) == 8
    assert ramp.replicas(obs(60.0, 10.0)) == 3  # a quiet minute: the level's count


def test_a_longer_lead_is_forecast_when_the_horizon_reaches_it():
    """Load 10 for 10 minutes, then 100: the 3-minute lead sees 10 (2 replicas at 5 each);
    a 15-minute look sees 100 only when the scaler forecasts that far (``horizon_s``)."""

    def ramp(history, step_s, ahead):
        return np.where(np.arange(ahead) < 10, 10.0, 100.0)

    def scaler(horizon_s):
        s = PredictiveScaler(
            SERVICE, ramp, lead_s=180, refit_s=60, min_history_s=0, z=0.0, horizon_s=horizon_s
        )
        s.observe(obs(0.0, 10.0))
        return s

    far = scaler(900.0)
    assert far.replicas(obs(60.0, None)) == 2
    assert far.replicas(obs(60.0, None), lead_s=900.0) == 20
    assert scaler(0.0).replicas(obs(60.0, None), lead_s=900.0) == 2  # not forecast so far
