"""Request traces: the Azure rows as recorded, and a rate trace's shape with drawn tokens."""

import numpy as np
import pytest

from tidewise.sim.rate_trace import RateTrace, TraceError
from tidewise.sim.serving.requests import (
    RequestTrace,
    history_of,
    is_request_trace,
    load_request_trace,
    requests_from_rates,
    split,
)


@pytest.fixture
def conv(shared_data):
    return shared_data / "azure-llm-inference-2023" / "AzureLLMInferenceTrace_conv.csv.gz"


def test_the_azure_conversation_trace_replays_as_recorded(conv):
    trace = load_request_trace(conv)
    assert is_request_trace(conv)
    assert len(trace) == 19_366  # the README's row count
    assert trace.arrival_s[0] == 0.0 and (np.diff(trace.arrival_s) >= 0).all()
    assert 3400 < trace.duration_s < 3700
    assert np.median(trace.prompt_tokens) == 1020 and np.median(trace.output_tokens) == 129


def test_a_rate_trace_is_not_a_request_trace(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("time,rps\n0,1\n60,2\n")
    assert not is_request_trace(path)


def test_bad_token_columns_name_the_problem(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,x,3\n")
    with pytest.raises(TraceError, match="whole numbers"):
        load_request_trace(path)


def rates(values, step=60.0):
    return RateTrace("r", 0.0, step, np.array(values, float), "rps")


def tokens():
    return RequestTrace("tok", 0.0, np.zeros(3), np.array([10, 20, 30]), np.array([1, 2, 3]), 1.0)


def test_drawn_requests_follow_the_shape_scaled_to_the_peak():
    shape = rates([1, 2, 4, 2] * 50)
    out = requests_from_rates(shape, tokens(), np.random.default_rng(1), peak_rps=2.0)
    per_step = np.bincount((out.arrival_s // 60).astype(int), minlength=200)
    # the busiest steps at 2 requests/s: 120 expected a minute; the quietest at 30
    assert per_step[2::4].mean() == pytest.approx(120, rel=0.05)
    assert per_step[0::4].mean() == pytest.approx(30, rel=0.1)
    pairs = set(zip(out.prompt_tokens.tolist(), out.output_tokens.tolist(), strict=True))
    assert pairs <= {(10, 1), (20, 2), (30, 3)}  # whole rows, never mixed
    assert out.duration_s == 200 * 60


def test_the_same_seed_gives_the_same_requests():
    shape = rates([1, 3, 2])
    a = requests_from_rates(shape, tokens(), np.random.default_rng(7), peak_rps=1.0)
    b = requests_from_rates(shape, tokens(), np.random.default_rng(7), peak_rps=1.0)
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)


def test_a_window_with_gaps_is_refused():
    with pytest.raises(ValueError, match="unobserved"):
        requests_from_rates(rates([1, np.nan, 2]), tokens(), np.random.default_rng(0), peak_rps=1)


def test_split_and_history():
    trace = RequestTrace(
        "t", 100.0, np.array([5.0, 15.0, 25.0]), np.array([1, 2, 3]), np.array([4, 5, 6]), 30.0
    )
    before, after = split(trace, 20.0)
    assert before.arrival_s.tolist() == [5.0, 15.0] and after.arrival_s.tolist() == [5.0]
    assert after.start_unix_s == 120.0 and after.duration_s == 10.0
    arrivals, prompt, output = history_of(before, 10.0)
    assert arrivals.tolist() == [1.0, 1.0] and prompt.tolist() == [1.0, 2.0]
    assert output.tolist() == [4.0, 5.0]
