"""The token-level server model, on numbers small enough to compute by hand
(``TOY_SERVER``: 10 ms an iteration, 1,000 prompt tokens a second, a 1,000-token cache)."""

from dataclasses import replace

import numpy as np
import pytest

from tests.factories import TOY_SERVER
from tidewise.model.inference import ColdStart
from tidewise.scaling.observation import ReplicaDecision
from tidewise.sim.serving.engine import ReplaySettings, replay
from tidewise.sim.serving.requests import RequestTrace

PROFILE = TOY_SERVER


class Fixed:
    """A policy that always answers the same count."""

    period_s = 1.0

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self.seen = []

    def recommend(self, obs):
        self.seen.append(obs)
        return ReplicaDecision(self.replicas, "fixed")


class OnDemand:
    """One replica while there is work, none otherwise; asked rarely, so only the
    activator's poke can bring the replica in time."""

    period_s = 100.0

    def recommend(self, obs):
        return ReplicaDecision(1 if obs.waiting or obs.running else 0, "demand")


def trace(arrivals, prompts, outputs, duration=10.0):
    return RequestTrace(
        "t",
        0.0,
        np.array(arrivals, float),
        np.array(prompts, np.int64),
        np.array(outputs, np.int64),
        duration,
    )


def run(requests, profile=PROFILE, replicas=1, step=0.25, **settings):
    s = ReplaySettings(step_s=step, initial_replicas=replicas, **settings)
    return replay(requests, profile, Fixed(replicas), "fixed", s)


def test_one_request_ttft_is_one_prefill_iteration_and_decode_one_token_per_iteration():
    out = run(trace([0.0], [100], [11]))
    # one iteration: 10 ms + 100 tokens at 1,000/s; then 10 tokens at 10 ms each
    assert out.ttft_s[0] == pytest.approx(0.11)
    assert out.done_s[0] == pytest.approx(0.11 + 10 * 0.01)
    assert out.tpot_s[0] == pytest.approx(0.01)


def test_a_prompt_longer_than_a_chunk_takes_one_iteration_per_chunk():
    out = run(trace([0.0], [600], [2]), step=1.0)
    # 600 tokens in chunks of 512: two iterations of 10 ms plus 0.6 s of prefill
    assert out.ttft_s[0] == pytest.approx(2 * 0.01 + 0.6)
    assert out.done_s[0] == pytest.approx(0.62 + 0.01)


def test_ttft_is_queueing_plus_prefill_when_the_cache_is_full():
    # each sequence reserves prompt + output = 600 of the 1,000 cache tokens: the second
    # waits for the first to finish, then is admitted at the next step boundary
    out = run(trace([0.0, 0.0], [500, 500], [100, 100]), step=1.0)
    first_done = 0.01 + 0.5 + 99 * 0.01
    assert out.done_s[0] == pytest.approx(first_done)
    assert out.admitted_s[1] == pytest.approx(2.0)  # the next step boundary
    assert out.ttft_s[1] == pytest.approx(2.0 + 0.01 + 0.5)


def test_an_iteration_runs_whole_across_step_boundaries():
    # 0.51 s of prefill in 0.1-s steps: the server's own clock carries the iteration over
    out = run(trace([0.0], [500], [2]), step=0.1)
    assert out.ttft_s[0] == pytest.approx(0.51)
    assert out.done_s[0] == pytest.approx(0.52)


def test_prompts_in_one_iteration_share_its_end_and_both_decode_after_it():
    out = run(trace([0.0, 0.0], [100, 200], [3, 3]), step=1.0)
    end = 0.01 + 300 / 1000
    assert out.first_token_s == pytest.approx([end, end])
    assert out.done_s == pytest.approx([end + 0.02, end + 0.02])


def test_the_decode_step_grows_with_the_batch():
    slow = replace(PROFILE, per_sequence_s=0.005, kv_capacity_tokens=10_000)
    out = run(trace([0.0, 0.0], [10, 10], [101, 101]), profile=slow, step=0.5)
    # one prefill iteration with nobody decoding yet: 10 ms + 20 tokens at 1,000/s
    prefill_end = 0.01 + 20 / 1000
    assert out.first_token_s == pytest.approx([prefill_end, prefill_end])
    # then 100 decode iterations of 10 ms + 2 x 5 ms
    assert out.done_s == pytest.approx([prefill_end + 100 * 0.02] * 2)


def test_kv_admission_needs_room_for_the_whole_sequence():
    # 400 + 200 = 600 fits the empty cache; the second (300 + 200 = 500) does not fit beside
    out = run(trace([0.0, 0.0], [400, 300], [200, 200]), step=0.25)
    assert out.admitted_s[0] == 0.0
    assert out.admitted_s[1] >= out.done_s[0] - 1e-9


def test_a_sequence_longer_than_the_cache_runs_alone():
    out = run(trace([0.0, 0.0], [1500, 10], [10, 10]), step=0.25)
    assert not np.isnan(out.done_s).any()
    assert out.admitted_s[1] >= out.done_s[0] - 1e-9


def test_requests_wait_at_zero_replicas_and_a_cold_start_serves_them():
    slow = replace(PROFILE, cold_start=ColdStart(node_boot_s=2.0, model_load_s=1.0))
    requests = trace([0.5], [100], [2])
    s = ReplaySettings(step_s=0.25, initial_replicas=0)
    out = replay(requests, slow, OnDemand(), "demand", s)
    # the activator's poke at 0.5 s starts a replica; it is Ready 3 s later
    assert out.buffered[0]
    assert out.cold_starts == 1
    assert out.first_token_s[0] == pytest.approx(3.5 + 0.01 + 0.1)


def test_gpu_hours_count_every_replica_for_the_whole_trace_at_its_gpu_fraction():
    shared = replace(PROFILE, share=0.25)
    out = run(trace([0.0], [10], [2], duration=3600.0), profile=shared, replicas=2)
    assert out.gpu_hours == pytest.approx(2 * 0.25)


def test_the_policy_sees_waiting_running_and_history():
    policy = Fixed(1)
    requests = trace([0.0, 0.1, 0.2], [100, 100, 100], [50, 50, 50], duration=30.0)
    replay(requests, PROFILE, policy, "fixed", ReplaySettings(step_s=0.25, history_step_s=10.0))
    first, later = policy.seen[0], policy.seen[-1]
    assert first.now_s == 0.0 and first.running == 0 and first.ready == 1
    assert later.arrivals.sum() == 3 and later.prompt_tokens.sum() == 300
    assert later.completions.sum() == 3 and later.output_tokens.sum() == 150
    with pytest.raises(ValueError):
        later.arrivals[0] = 1.0  # read-only: a policy cannot rewrite the past
