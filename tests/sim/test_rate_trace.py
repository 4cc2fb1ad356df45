import gzip

import numpy as np
import pytest

from tidewise.sim.rate_trace import load_rate_trace, parse_instant
from tidewise.sim.traces import TraceError


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_iso_and_unix_times_and_the_default_value_column(tmp_path):
    path = write(
        tmp_path,
        "minute_start,unix_ts,requests,status\n"
        "1995-07-01T00:00:00-04:00,804571200,42,ok\n"
        "1995-07-01T00:01:00-04:00,804571260,61,ok\n"
        "1995-07-01T00:03:00-04:00,804571380,7,outage\n"
        "1995-07-01T00:04:00-04:00,804571440,9,ok\n",
    )
    trace = load_rate_trace(path)
    assert trace.value_column == "requests"  # unix_ts is the same instants: skipped
    assert trace.start_unix_s == 804571200 and trace.step_s == 60
    np.testing.assert_array_equal(trace.observed, [True, True, False, False, True])
    assert trace.values[4] == 9


def test_named_columns_and_gzip(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"rate,when\n3,0\n4,300\n5,600\n"))
    trace = load_rate_trace(path, time_col="when", value_col="rate")
    assert trace.step_s == 300 and list(trace.values) == [3, 4, 5]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("t,v\n0,1\n60,x\n", {}, r"t.csv:3: value column 'v' holds 'x'.*--value-col"),
        ("t,v\n0,1\n60,2\n", {"value_col": "rps"}, r"no column 'rps' for --value-col"),
        ("t,v\nnoon,1\n60,2\n", {}, r"time column 't'.*'noon'"),
        ("t,v\n0,1\n", {}, r"at least two rows"),
        ("t,v\n0,-1\n60,2\n", {}, r"negative"),
    ],
)
def test_bad_files_say_what_and_where(tmp_path, text, kwargs, message):
    with pytest.raises(TraceError, match=message):
        load_rate_trace(write(tmp_path, text), **kwargs)


def test_naive_iso_is_utc():
    assert parse_instant("1970-01-01T00:01:00") == 60.0
    assert parse_instant("1970-01-01T00:01:00Z") == 60.0
