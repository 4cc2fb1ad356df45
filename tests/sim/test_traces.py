import gzip
import json
from datetime import datetime

import numpy as np
import pytest

from tidewise.sim.traces import (
    GapPolicy,
    RateUnit,
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


def test_a_missing_row_is_a_gap_not_an_error(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"unix_ts,requests\n0,1\n60,2\n180,3\n240,4\n"))
    trace = load_minute_trace(path)
    np.testing.assert_array_equal(trace.observed, [True, True, False, True, True])
    assert trace.gap_reasons[2] == "no row"
    with pytest.raises(TraceError, match=r"1 unobserved minutes \(no row\)"):
        trace.window(0, 4, GapPolicy.ERROR)
    assert list(trace.window(0, 5, GapPolicy.PREVIOUS)) == [1, 2, 2, 3, 4]


def test_any_columns_iso_times_and_a_five_minute_step_are_resampled(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "service,when,rps\n"
        "web,2026-01-05T10:00:00+01:00,2\n"
        "web,2026-01-05T10:05:00+01:00,4\n"
        "web,2026-01-05T10:10:00+01:00,1\n"
    )
    rate = load_minute_trace(path, "when", "rps", RateUnit.PER_SECOND)
    assert rate.start_unix_s == datetime.fromisoformat("2026-01-05T09:00:00+00:00").timestamp()
    # a rate is held over its 5 minutes: 2 rps is 120 requests in each of them
    assert list(rate.requests) == [120.0] * 5 + [240.0] * 5 + [60.0] * 5
    counts = load_minute_trace(path, "when", "rps", RateUnit.PER_STEP)
    # a count per row is spread over its 5 minutes: no request created or lost
    np.testing.assert_allclose(counts.requests, [0.4] * 5 + [0.8] * 5 + [0.2] * 5)
    assert counts.requests.sum() == pytest.approx(7)
    minute = load_minute_trace(path, "when", "rps")  # default: requests per minute
    assert minute.requests[0] == 2.0


def test_a_fifteen_second_step_sums_into_minutes_and_gaps_spread(tmp_path):
    rows = "".join(f"{15 * i},{i}\n" for i in range(12) if i != 5)
    path = tmp_path / "t.csv"
    path.write_text("t,v\n" + rows)
    trace = load_minute_trace(path, unit=RateUnit.PER_STEP)
    assert trace.requests[0] == 0 + 1 + 2 + 3
    assert list(trace.observed) == [True, False, True]  # row 5 (75 s) is missing
    assert trace.gap_reasons[1] == "no row"
    assert trace.requests[2] == 8 + 9 + 10 + 11


def test_a_prometheus_answer_is_a_trace_in_requests_per_second(tmp_path):
    answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"service": "web"},
                    "values": [[1000, "2.5"], [1060, "NaN"], [1120, "1"]],
                }
            ],
        },
    }
    path = tmp_path / "web.json.gz"
    path.write_bytes(gzip.compress(json.dumps(answer).encode()))
    trace = load_minute_trace(path)
    assert trace.start_unix_s == 1000
    assert trace.requests[0] == 150.0 and trace.requests[2] == 60.0
    assert not trace.observed[1] and trace.gap_reasons[1] == "empty"


def test_bad_values_name_the_line_and_the_scenario_field(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("unix_ts,requests\n0,1\n60,lots\n")
    with pytest.raises(TraceError, match=r"t.csv:3: .*'lots'.*value_column"):
        load_minute_trace(path)
    with pytest.raises(TraceError, match=r"no column 'rps' for value_column"):
        load_minute_trace(path, value_col="rps")
    path.write_text("time,count\n0,1\n")
    with pytest.raises(TraceError, match="at least two rows"):
        load_minute_trace(path)
