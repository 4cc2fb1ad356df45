import numpy as np
import pytest

from tidewise.scaling.forecast import (
    DSP,
    HoltWinters,
    RecentLevel,
    SeasonalLevel,
    SeasonalNaive,
    clean_history,
    forecaster_named,
    steps_in,
)

STEP = 60.0
DAY = 1440
WEEK = 7 * DAY
SEASONAL = [
    SeasonalNaive(),
    SeasonalNaive(cycles=2),
    HoltWinters(),
    SeasonalLevel(),
    DSP(),
    DSP(estimator="fft"),
]
WEEKLY = [SeasonalNaive(), SeasonalNaive(cycles=2), DSP(), DSP(estimator="fft")]
ALL = [RecentLevel(), *SEASONAL]


def demand(start, steps, step_s=STEP, weekend=1.0):
    """Noiseless demand: 50 at midnight, 150 at noon; days 5 and 6 of each week x weekend."""
    t = (start + np.arange(steps)) * step_s
    daily = 100 - 50 * np.cos(2 * np.pi * t / 86_400)
    return daily * np.where((t // 86_400) % 7 >= 5, weekend, 1.0)


def noisy(truth, sigma=2.0, seed=0):
    return truth + np.random.default_rng(seed).normal(0, sigma, len(truth))


def relative_mae(forecast, truth):
    return np.abs(forecast - truth).mean() / truth.mean()


@pytest.mark.parametrize("forecaster", SEASONAL, ids=lambda f: f.name)
@pytest.mark.parametrize("days", [1.5, 3, 10])
def test_recovers_a_daily_cycle_within_5_percent(forecaster, days):
    # a flat forecast at the mean is off by ~32 %; every forecaster must be within 5 %
    n = int(days * DAY)
    forecast = forecaster.forecast(noisy(demand(0, n)), STEP, DAY)
    assert forecast.shape == (DAY,)
    assert relative_mae(forecast, demand(n, DAY)) < 0.05


@pytest.mark.parametrize("forecaster", WEEKLY, ids=lambda f: f.name)
def test_recovers_a_weekly_cycle_from_two_weeks_of_history(forecaster):
    # weekends at half the weekday demand; a daily-only forecast would be ~14 % off over a week
    n = 21 * DAY
    history = noisy(demand(0, n, weekend=0.5))
    forecast = forecaster.forecast(history, STEP, WEEK)
    assert relative_mae(forecast, demand(n, WEEK, weekend=0.5)) < 0.05


def test_dsp_finds_the_week_when_weekends_differ_and_the_day_otherwise():
    dsp = DSP()
    weekly = clean_history(noisy(demand(0, 21 * DAY, weekend=0.5)), STEP)
    daily = clean_history(noisy(demand(0, 21 * DAY)), STEP)
    assert dsp.dominant_period(weekly, STEP) == WEEK
    assert dsp.dominant_period(daily, STEP) == DAY


def test_dsp_finds_no_cycle_in_noise_and_holds_the_recent_level():
    history = noisy(np.full(10 * DAY, 100.0), sigma=10.0)
    dsp = DSP()
    assert dsp.dominant_period(clean_history(history, STEP), STEP) is None
    np.testing.assert_allclose(dsp.forecast(history, STEP, 30), history[-15:].mean())


@pytest.mark.parametrize("forecaster", SEASONAL, ids=lambda f: f.name)
def test_survives_gaps_in_history(forecaster):
    # two days unobserved (like NASA's outage; one is the day a week ago), yesterday from 06:00
    # to 18:00, and the last 20 minutes; a straight line across a gap would be ~15 % off
    n = 14 * DAY
    history = noisy(demand(0, n))
    history[7 * DAY : 9 * DAY] = np.nan
    history[n - DAY + 6 * 60 : n - DAY + 18 * 60] = np.nan
    history[-20:] = np.nan
    forecast = forecaster.forecast(history, STEP, DAY)
    assert np.isfinite(forecast).all()
    assert relative_mae(forecast, demand(n, DAY)) < 0.05


@pytest.mark.parametrize("forecaster", SEASONAL, ids=lambda f: f.name)
@pytest.mark.parametrize("days", [2, 10])
def test_an_hour_long_8x_crowd_is_not_forecast_for_tomorrow(forecaster, days):
    n = days * DAY
    history = noisy(demand(0, n))
    noon_yesterday = n - DAY + 11 * 60 + 30
    history[noon_yesterday : noon_yesterday + 60] *= 8
    tomorrow = demand(n, DAY)
    assert forecaster.forecast(history, STEP, DAY).max() <= 1.5 * tomorrow.max()


@pytest.mark.parametrize("forecaster", ALL, ids=lambda f: f.name)
def test_under_a_day_of_history_holds_the_recent_level(forecaster):
    history = noisy(demand(0, 12 * 60))
    history[-3] = np.nan
    np.testing.assert_allclose(
        forecaster.forecast(history, STEP, 90), np.nanmean(history[-15:]), rtol=1e-9
    )


@pytest.mark.parametrize("forecaster", SEASONAL, ids=lambda f: f.name)
def test_other_step_sizes(forecaster):
    step = 300.0
    n = 10 * steps_in(86_400, step)
    forecast = forecaster.forecast(noisy(demand(0, n, step)), step, 288)
    assert relative_mae(forecast, demand(n, 288, step)) < 0.05


def test_margin_scales_the_forecast():
    history = noisy(demand(0, 10 * DAY))
    plain = DSP().forecast(history, STEP, DAY)
    np.testing.assert_allclose(DSP(margin=0.2).forecast(history, STEP, DAY), plain * 1.2)


def test_same_input_same_forecast():
    history = noisy(demand(0, 15 * DAY))
    for forecaster in ALL:
        np.testing.assert_array_equal(
            forecaster.forecast(history, STEP, 60), forecaster.forecast(history, STEP, 60)
        )


def test_clean_history_replaces_a_crowd_and_a_gap_with_the_usual_value():
    truth = demand(0, 4 * DAY)
    history = noisy(truth)
    history[3 * DAY + 600 : 3 * DAY + 660] *= 8
    history[2 * DAY + 700 : 2 * DAY + 760] = np.nan
    clean = clean_history(history, STEP)
    assert np.isfinite(clean).all()
    assert np.abs(clean - truth).max() < 10  # noise is sigma 2; the crowd was +700
    untouched = np.ones(len(truth), bool)
    untouched[3 * DAY + 600 : 3 * DAY + 660] = False
    untouched[2 * DAY + 700 : 2 * DAY + 760] = False
    assert (clean[untouched] == history[untouched]).mean() > 0.999


def test_history_must_hold_some_nonnegative_observation():
    with pytest.raises(ValueError, match="no observed"):
        SeasonalNaive().forecast(np.full(2 * DAY, np.nan), STEP, 10)
    with pytest.raises(ValueError, match="negative"):
        clean_history(np.array([1.0, -1.0]), STEP)


def test_horizon_zero_is_empty_and_negative_is_an_error():
    history = noisy(demand(0, 3 * DAY))
    for forecaster in ALL:
        assert forecaster.forecast(history, STEP, 0).shape == (0,)
        with pytest.raises(ValueError, match="horizon"):
            forecaster.forecast(history, STEP, -1)


def test_forecasters_by_name():
    assert forecaster_named("dsp-fft", margin=0.1) == DSP(estimator="fft", margin=0.1)
    assert forecaster_named("holt-winters").name == "holt-winters"
    with pytest.raises(ValueError, match="unknown forecaster"):
        forecaster_named("prophet")


def test_seasonal_level_carries_a_shifted_level_along_the_day():
    # the last two hours ran 20 above the usual day: the next hour follows the day's shape
    # at the offset from the profile (the 3 days' mean, which took in 1/3 of the 20)
    n = 3 * DAY
    history = demand(0, n)
    history[-120:] += 20
    shift = SeasonalLevel().forecast(history, STEP, 60) - demand(n, 60)
    assert abs(shift.mean() - 20 * 2 / 3) < 1.5 and np.all((shift > 10) & (shift < 18))
    assert SeasonalLevel().forecast(demand(0, n), STEP, 60) == pytest.approx(
        demand(n, 60), rel=0.01
    )
