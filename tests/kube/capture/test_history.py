import asyncio
import math

import aiohttp
import numpy as np
import pytest

from tests.kube.capture.fakeprom import FakePrometheus, serving
from tidewise.kube.api.prometheus import PrometheusError
from tidewise.kube.capture import history
from tidewise.kube.capture.history import (
    DEFAULT_QUERIES,
    QueryTemplate,
    Signal,
    history_of,
    pod_pattern,
    range_values,
)
from tidewise.testenv.prometheus import Series, openmetrics, prometheus_process


def run(coroutine_fn, *args):
    async def main():
        async with aiohttp.ClientSession() as session:
            return await coroutine_fn(session, *args)

    return asyncio.run(main())


def test_a_long_window_is_asked_in_pieces_prometheus_accepts(monkeypatch):
    monkeypatch.setattr(history, "MAX_POINTS", 4)
    fake = FakePrometheus({"up": lambda t: t / 60 if t != 300 else None})
    with serving(fake):
        values = run(range_values, fake.url, "sum(up)", 0.0, 540.0, 60.0)
    assert [(r["start"], r["end"]) for r in fake.requests] == [
        ("0.000", "180.000"),
        ("240.000", "420.000"),
        ("480.000", "540.000"),
    ]
    assert values[:5] == [0, 1, 2, 3, 4] and math.isnan(values[5]) and values[9] == 9


def test_no_series_is_none_and_several_or_an_error_answer_are_errors():
    fake = FakePrometheus({"a_total": lambda t: 1, "a_": lambda t: 2})
    with serving(fake):
        assert run(range_values, fake.url, "b", 0.0, 60.0, 60.0) is None
        with pytest.raises(PrometheusError, match="2 series where one is needed; aggregate"):
            run(range_values, fake.url, "a_total", 0.0, 60.0, 60.0)
    broken = FakePrometheus({}, error="parse error at char 3")
    with serving(broken), pytest.raises(PrometheusError, match="'x\\(': parse error at char 3"):
        run(range_values, broken.url, "x(", 0.0, 60.0, 60.0)


def test_an_unreachable_prometheus_is_an_error_naming_it():
    with pytest.raises(PrometheusError, match=r"http://127.0.0.1:9 unreachable"):
        run(range_values, "http://127.0.0.1:9", "up", 0.0, 60.0, 60.0)


def test_the_first_template_with_a_series_wins_and_cpu_is_the_fallback():
    fake = FakePrometheus({"container_cpu_usage_seconds_total": lambda t: 0.5})
    with serving(fake):
        found = run(
            history_of, fake.url, DEFAULT_QUERIES, ("shop", "web", "Deployment"), (0, 120, 60), "2m"
        )
    assert found.template == "cpu" and found.signal is Signal.CPU and found.values == [0.5] * 3
    asked = [r["query"] for r in fake.requests]
    assert len(asked) == 4 and 'destination_workload="web"' in asked[0]
    assert 'pod=~"web-[a-z0-9]+-[a-z0-9]+"' in asked[3] and "[2m]" in asked[3]


def test_templates_fill_in_the_workload():
    template = QueryTemplate("mine", 'sum(rate(hits{ns="$namespace",pod=~"$pods"}[$rate_window]))')
    promql = template.for_workload("shop", "db", "StatefulSet", "1m")
    assert promql == 'sum(rate(hits{ns="shop",pod=~"db-[0-9]+"}[1m]))'
    assert pod_pattern("web", "Deployment") == "web-[a-z0-9]+-[a-z0-9]+"


@pytest.mark.e2e
def test_pieces_join_into_the_one_answer_of_the_real_prometheus(
    prometheus_binaries, tmp_path, monkeypatch
):
    """Against the real query engine: a window asked in pieces of 7 points equals the same
    window asked at once (no point lost or repeated at the seams), and a stretch without
    samples is NaN where ``rate`` has fewer than two samples."""
    origin = 1_700_000_000.0
    stamps = [origin + 15 * i for i in range(4 * 60) if not 1800 <= 15 * i < 2400]
    recorded = openmetrics(
        [Series("hits_total", {"job": "web"}, [(t, 3 * (t - origin)) for t in stamps])]
    )
    promql = "sum(rate(hits_total[2m]))"
    window = (origin + 300, origin + 3540, 60.0)
    with prometheus_process(prometheus_binaries, tmp_path / "p", history=recorded) as server:
        whole = run(range_values, server.url, promql, *window)
        monkeypatch.setattr(history, "MAX_POINTS", 7)
        pieces = run(range_values, server.url, promql, *window)
    assert len(whole) == 55
    np.testing.assert_array_equal(pieces, whole)
    for i, value in enumerate(whole):
        at = window[0] + 60 * i
        samples = sum(1 for t in stamps if at - 120 < t <= at)
        # rate() needs two samples in its range: fewer is no point (a gap in the trace)
        assert math.isnan(value) == (samples < 2), (i, samples, value)
        if samples == 8:  # a full range: the counter's exact slope
            assert value == pytest.approx(3.0)
    assert sum(math.isnan(v) for v in whole) == 9
