import gzip
import json

import numpy as np
import pytest

from tidewise.sim.rate_trace import TraceError, load_rate_trace, parse_instant


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


def _answer(result, result_type="matrix"):
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_answer([]), r"0 series where one is needed; aggregate the query"),
        (_answer([{"values": [[0, "1"]]}, {"values": [[0, "1"]]}]), r"2 series"),
        (_answer([], "vector"), r"not a Prometheus range-query answer"),
        ('{"status": "error", "error": "parse error"}', r"Prometheus answered an error: parse"),
        ('{"data": ', r"not valid JSON"),
        (_answer([{"values": [[0, "1"], [60, "-2"]]}]), r"negative or infinite"),
        (_answer([{"values": [[0, "1"]]}]), r"1 samples, at least two"),
    ],
)
def test_bad_prometheus_answers_say_what_to_do(tmp_path, text, message):
    with pytest.raises(TraceError, match=message):
        load_rate_trace(write(tmp_path, text, "p.json"))


def test_a_prometheus_answer_reads_like_a_csv(tmp_path):
    # the bare data object is taken too; a missing step is a gap, its labels name the column
    data = {"resultType": "matrix", "result": [{"metric": {"job": "web"}, "values": []}]}
    data["result"][0]["values"] = [[100, "1"], [130, "2"], [190, "4"], [220, "5"]]
    trace = load_rate_trace(write(tmp_path, json.dumps(data), "p.json"))
    assert trace.kind == "prometheus" and trace.value_column == "job=web"
    assert trace.step_s == 30 and trace.gap_reasons == ("", "", "no row", "", "")
    np.testing.assert_array_equal(trace.values, [1, 2, np.nan, 4, 5])
