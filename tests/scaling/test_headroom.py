import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.scaling.headroom import Headroom


def test_holds_the_forecast_beyond_the_replicas_asked_for():
    headroom = Headroom(lookahead_s=600, max_placeholders=20)
    assert headroom.placeholders(12, 4) == 8
    assert headroom.placeholders(12, 12) == 0  # the real replicas took the room


def test_none_without_a_forecast_or_after_the_peak():
    headroom = Headroom(lookahead_s=600, max_placeholders=20)
    assert headroom.placeholders(None, 4) == 0
    assert headroom.placeholders(3, 9) == 0


def test_capped():
    assert Headroom(lookahead_s=600, max_placeholders=5).placeholders(30, 4) == 5
    assert Headroom(lookahead_s=600, max_placeholders=0).placeholders(30, 4) == 0


@pytest.mark.parametrize(("lookahead", "cap"), [(0, 1), (-5, 1), (60, -1)])
def test_refuses_a_lookahead_or_cap_out_of_range(lookahead, cap):
    with pytest.raises(ValueError):
        Headroom(lookahead_s=lookahead, max_placeholders=cap)


@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 50))
def test_placeholders_and_replicas_never_exceed_the_forecast_nor_the_cap(forecast, replicas, cap):
    got = Headroom(lookahead_s=60, max_placeholders=cap).placeholders(forecast, replicas)
    assert 0 <= got <= cap
    assert got == 0 or replicas + got <= forecast
