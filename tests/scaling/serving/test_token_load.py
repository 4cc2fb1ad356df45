"""tidewise's serving policy: capacity from the token mix, demand with headroom, the hold,
and scale to zero only when idle, within the objective's budget, and never with work."""

import math
from dataclasses import replace

import numpy as np
import pytest

from tests.factories import TOY_SERVER
from tidewise.model.inference import ColdStart, ServiceObjective
from tidewise.scaling.serving.capacity import slo_rate
from tidewise.scaling.serving.token_load import TokenLoadScaler

PROFILE = replace(TOY_SERVER, kv_capacity_tokens=50_000)
OBJECTIVE = ServiceObjective(ttft_s=1.0)
STEADY = [6.0] * 90  # 15 minutes at 36 requests a minute (0.6/s), in 10-s steps


def scaler(**extra):
    return TokenLoadScaler(PROFILE, OBJECTIVE, **extra)


def test_capacity_is_the_slo_rate_of_the_recent_mix(obs):
    policy = scaler()
    # 100-token prompts (1,000 per 10 requests), 10-token answers
    o = obs(now=900.0, arrivals=STEADY, prompt_tokens=[600.0] * 90, output_tokens=[60.0] * 90)
    expected = slo_rate(PROFILE, 100, 10, OBJECTIVE, max_load=0.85, prompt_tail=300)
    assert policy.capacity(o) == pytest.approx(expected.rate)


def test_flat_demand_plans_the_level_and_replicas_follow(obs):
    policy = scaler(noise_sigmas=0.0)
    o = obs(now=900.0, arrivals=STEADY, prompt_tokens=[600.0] * 90, output_tokens=[60.0] * 90)
    rate, rule = policy.demand(o)
    assert (rate, rule) == (pytest.approx(0.6), "level")
    decision = policy.recommend(o)
    assert decision.replicas == max(1, math.ceil(0.6 / policy.capacity(o)))


def test_a_rising_trend_is_planned_ahead(obs):
    policy = scaler(noise_sigmas=0.0)
    ramp = [k / 10 for k in range(90)]  # per step: +0.1 a step, +0.6 a minute per minute
    rate, rule = policy.demand(obs(now=900.0, arrivals=ramp))
    assert rule == "trend"
    level = sum(ramp[-30:]) / 5  # the last 5 minutes, per minute
    assert rate * 60 > level


def test_replicas_are_held_for_the_cold_start_after_the_need_drops(obs):
    cold = replace(PROFILE, cold_start=ColdStart(model_load_s=120.0))
    slow = TokenLoadScaler(cold, OBJECTIVE, min_replicas=1)
    assert slow.recommend(obs(now=0.0, replicas=3, arrivals=STEADY)).replicas == 3
    later = slow.recommend(obs(now=60.0, replicas=3, arrivals=[0.1] * 96))
    assert (later.replicas, later.rule) == (3, "hold")
    after = slow.recommend(obs(now=130.0, replicas=3, arrivals=[0.1] * 96))
    assert after.replicas < 3


def test_never_zero_with_work_and_zero_only_idle_past_the_hold(obs):
    objective = ServiceObjective(ttft_s=1.0, attainment=0.5)  # a budget of half the minutes
    policy = TokenLoadScaler(PROFILE, objective, hold_s=30.0)
    busy = [1.0] * 60  # ten minutes with requests: a budget of five delayed minutes
    idle = busy + [0.0] * 6  # then a quiet minute
    assert policy.recommend(obs(now=600.0, running=1, arrivals=busy)).replicas >= 1
    assert policy.recommend(obs(now=610.0, arrivals=idle)).replicas >= 1  # idle 0 s
    assert policy.recommend(obs(now=650.0, arrivals=idle)).rule == "to zero"  # idle 40 s


def test_no_zero_without_budget(obs):
    policy = TokenLoadScaler(PROFILE, ServiceObjective(ttft_s=1.0, attainment=0.99), hold_s=30.0)
    idle = [1.0] * 60 + [0.0] * 6  # 10 minutes with requests: 0.1 minute of budget
    policy.recommend(obs(now=610.0, arrivals=idle))
    decision = policy.recommend(obs(now=650.0, arrivals=idle))
    assert decision.replicas == 1 and decision.rule != "to zero"


def test_a_buffered_request_brings_a_replica_back_and_spends_budget(obs):
    policy = scaler()
    decision = policy.recommend(obs(now=100.0, replicas=0, ready=0, waiting=2, arrivals=[0.0] * 10))
    assert (decision.replicas, decision.rule) == (1, "from zero")
    assert len(policy.spent) == 1
    assert policy.recommend(obs(now=110.0, replicas=0, ready=0)).replicas == 0


class Spiky:
    """A forecast of 10 requests a minute with one minute of 1,000 (yesterday's burst)."""

    name = "spiky"

    def forecast(self, history, step_s, horizon_steps):
        ahead = np.full(horizon_steps, 10.0)
        ahead[2] = 1000.0
        return ahead


def test_the_forecast_peak_is_a_level_not_one_noisy_minute(obs):
    policy = scaler(forecaster=Spiky(), noise_sigmas=0.0)
    day = [1.0] * (1440 * 6)  # a day of 10-s steps: 6 requests a minute
    rate, rule = policy.demand(obs(now=86_400.0, arrivals=day))
    # the spike averaged over the 5-minute level window: (1,000 + 4 x 10) / 5 = 208 a minute
    assert rule == "forecast"
    assert rate * 60 == pytest.approx(208.0)
