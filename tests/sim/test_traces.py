import gzip
from datetime import datetime

import numpy as np
import pytest

from tidewise.sim.traces import (
    GapPolicy,
    TraceError,
    builtin_trace_path,
    load_minute_trace,
)

JUL_28_1330 = datetime.fromisoformat("1995-07-28T13:30:00-04:00").timestamp()


@pytest.fixture(scope="module")
def nasa():
    return load_minute_trace(builtin_trace_path("nasa-http-1995"))


def test_builtin_trace_is_the_shared_nasa_file(nasa, shared_data):
    shared = load_minute_trace(shared_data / "nasa-http-1995" / "nasa_ksc_requests_per_minute.csv")
    assert len(nasa.requests) == len(shared.requests) == 89280
    np.testing.assert_array_equal(nasa.observed, shared.observed)
    np.testing.assert_array_equal(nasa.requests[nasa.observed], shared.requests[shared.observed])
    # documented totals: 82,067 ok minutes + 1 partial; 4,947 missing + 2,265 outage
    assert int(nasa.observed.sum()) == 82068
    assert nasa.gap_reasons.count("missing") == 4947
    assert nasa.gap_reasons.count("outage") == 2265
    assert np.nanmax(nasa.requests) == 405


def test_window_across_the_missing_days_is_refused(nasa):
    with pytest.raises(TraceError, match=r"unobserved minutes \(missing\).*on_gap"):
        nasa.window(JUL_28_1330, 60, GapPolicy.ERROR)


def test_outage_counts_as_a_gap_not_as_zero_demand(nasa):
    hurricane = datetime.fromisoformat("1995-08-01T14:50:00-04:00").timestamp()
    with pytest.raises(TraceError, match="outage"):
        nasa.window(hurricane, 10, GapPolicy.ERROR)


def test_gaps_filled_as_asked(nasa):
    zero = nasa.window(JUL_28_1330, 10, GapPolicy.ZERO)
    held = nasa.window(JUL_28_1330, 10, GapPolicy.PREVIOUS)
    # 13:30, 13:31 ok; 13:32 partial (observed); from 13:33 missing
    assert list(zero[3:]) == [0.0] * 7
    assert list(held[3:]) == [held[2]] * 7
    assert zero[2] == held[2] > 0


def test_clean_window_is_returned_as_is(nasa):
    start = datetime.fromisoformat("1995-07-10T00:00:00-04:00").timestamp()
    week = nasa.window(start, 7 * 1440, GapPolicy.ERROR)
    assert week.shape == (10080,) and not np.isnan(week).any()


def test_window_outside_the_trace_is_an_error(nasa):
    with pytest.raises(TraceError, match="outside the trace"):
        nasa.window(nasa.start_unix_s - 60, 10, GapPolicy.ZERO)


def test_rows_must_be_consecutive_minutes(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"unix_ts,requests\n0,1\n60,2\n180,3\n"))
    with pytest.raises(TraceError, match=":4: rows must be consecutive"):
        load_minute_trace(path)


def test_bad_values_name_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("unix_ts,requests\n0,1\n60,lots\n")
    with pytest.raises(TraceError, match=r"t.csv:3"):
        load_minute_trace(path)
    path.write_text("time,count\n0,1\n")
    with pytest.raises(TraceError, match="needs columns"):
        load_minute_trace(path)
