"""Replicas sized to a service level: Erlang C and the square-root staffing rule."""

import math
from statistics import NormalDist

import pytest

from tidewise.scaling.slo import ServiceLevel, erlang_c, servers_for_wait


def test_erlang_c_matches_hand_computed_values():
    # M/M/1: a request waits with probability rho
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    # c = 2, a = 1: (1/2 x 2) / (1 + 1 + 1) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # c = 3, a = 2: (8/6 x 3) / (1 + 2 + 2 + 4) = 4/9
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(2, 2.0) == 1.0  # cannot carry the load
    assert erlang_c(3, 0.0) == 0.0


def test_servers_for_wait_is_the_fewest_that_meet_the_probability():
    assert servers_for_wait(1.0, 1 / 3 + 1e-9) == 2
    # C(3, 2) = 0.444, C(4, 2) = 0.174
    assert servers_for_wait(2.0, 0.45) == 3
    assert servers_for_wait(2.0, 0.44) == 4
    assert servers_for_wait(0.0, 0.1) == 0


@pytest.mark.parametrize("offered", [100.0, 900.0])
def test_erlang_c_staffing_approaches_halfin_whitt(offered):
    """Halfin and Whitt (1981): c = R + beta sqrt(R) with P(wait) -> 1 / (1 + beta Phi / phi)."""
    normal = NormalDist()

    def limit(beta):
        return 1 / (1 + beta * normal.cdf(beta) / normal.pdf(beta))

    lo, hi = 0.0, 5.0
    for _ in range(60):  # the beta whose limit is a 20 % chance of waiting
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if limit(mid) > 0.2 else (lo, mid)
    servers = servers_for_wait(offered, 0.2)
    assert (servers - offered) / math.sqrt(offered) == pytest.approx(lo, abs=0.15)


def test_overload_risk_sizes_for_the_minutes_noise():
    # 20 rps at 10 per replica, Poisson minutes: 20 + 3.09 x sqrt(20) = 33.8 -> 4 replicas
    assert ServiceLevel(overload_risk=0.001).replicas(20.0, 10.0, 1.0) == 4
    # a 5 % risk: 20 + 1.645 x 4.47 = 27.4 -> 3
    assert ServiceLevel(overload_risk=0.05).replicas(20.0, 10.0, 1.0) == 3
    # twice the dispersion: 20 + 1.645 x sqrt(40) = 30.4 -> 4
    assert ServiceLevel(overload_risk=0.05).replicas(20.0, 10.0, 2.0) == 4
    assert ServiceLevel().replicas(0.0, 10.0, 1.0) == 0


def test_headroom_grows_as_the_square_root_of_the_load():
    level = ServiceLevel(overload_risk=0.01)
    # 1000 rps at 1 per replica: 1000 + 2.326 x 31.6 = 1073.6 -> 1074, where 70 % asks 1429
    assert level.replicas(1000.0, 1.0, 1.0) == 1074
    # 10 rps: 10 + 2.326 x 3.16 = 17.4 -> 18, more than 70 % (15)
    assert level.replicas(10.0, 1.0, 1.0) == 18


def test_a_wait_objective_raises_the_count_where_it_is_the_stricter():
    # no noise: 2 replicas carry 20 rps; for 10 % of requests to wait at most, M/M/c asks 5
    # (C(4, 2) = 0.174, C(5, 2) = 0.060)
    assert ServiceLevel(overload_risk=0.01).replicas(20.0, 10.0, 0.0) == 2
    assert ServiceLevel(overload_risk=0.01, wait_probability=0.1).replicas(20.0, 10.0, 0.0) == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"overload_risk": 0.0}, "overload_risk"),
        ({"overload_risk": 0.5}, "overload_risk"),
        ({"wait_probability": 1.0}, "wait_probability"),
    ],
)
def test_an_impossible_level_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        ServiceLevel(**fields)
