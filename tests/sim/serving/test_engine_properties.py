"""Invariants of the replay under any traffic and any scaling: nothing lost, FIFO per
replica, no first token before the prompt could be prefilled, cost never negative, and the
same inputs give the same run."""

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import TOY_SERVER as PROFILE
from tidewise.model.inference import ColdStart
from tidewise.scaling.observation import ReplicaDecision
from tidewise.sim.serving.engine import ReplaySettings, replay
from tidewise.sim.serving.requests import RequestTrace


class Schedule:
    """Replica counts changing every period as drawn: scale-ups, drains, zero."""

    period_s = 2.0  # longer than the cold start: a scale-up gets Ready before it may go

    def __init__(self, counts: list[int]) -> None:
        self.counts = counts
        self.calls = 0

    def recommend(self, obs):
        count = self.counts[self.calls % len(self.counts)]
        self.calls += 1
        return ReplicaDecision(count, "schedule")


requests_st = st.lists(
    st.tuples(
        st.floats(0.0, 20.0, allow_nan=False),
        st.integers(1, 700),
        st.integers(1, 60),
    ),
    min_size=1,
    max_size=40,
)


def build(rows):
    rows = sorted(rows)
    return RequestTrace(
        "h",
        0.0,
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.int64),
        21.0,
    )


@settings(max_examples=60, deadline=None)
@given(requests_st, st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(0, 3))
def test_replay_invariants(rows, counts, initial):
    requests = build(rows)
    profile = replace(PROFILE, cold_start=ColdStart(0.6, 0.3, 0.4))
    s = ReplaySettings(step_s=0.25, initial_replicas=initial, node_linger_s=0.5, drain_limit_s=60)
    out = replay(requests, profile, Schedule([*counts, 1]), "s", s)
    # nothing lost: every request got its first and last token, on some replica
    assert not np.isnan(out.done_s).any() and (out.replica >= 0).all()
    assert (out.done_s >= out.first_token_s - 1e-9).all()
    # admitted after arriving, first token no sooner than its own prefill allows
    assert (out.admitted_s >= out.arrival_s - 1e-9).all()
    # at least one iteration and the prompt's prefill compute
    least = profile.iteration_s + out.prompt_tokens / profile.prefill_tokens_per_s
    assert (out.first_token_s - out.admitted_s >= least - 1e-6).all()
    # FIFO per replica: admitted and given first tokens in arrival order
    for r in np.unique(out.replica):
        mine = np.flatnonzero(out.replica == r)
        assert (np.diff(out.admitted_s[mine]) >= -1e-9).all()
        assert (np.diff(out.first_token_s[mine]) >= -1e-9).all()
    # globally no overtaking at admission
    assert (np.diff(out.admitted_s) >= -1e-9).all()
    assert out.gpu_seconds >= 0 and out.zero_seconds >= 0


@settings(max_examples=10, deadline=None)
@given(requests_st, st.lists(st.integers(0, 3), min_size=1, max_size=5))
def test_same_inputs_same_run(rows, counts):
    requests = build(rows)
    s = ReplaySettings(step_s=0.25, initial_replicas=1, drain_limit_s=60)
    a = replay(requests, PROFILE, Schedule([*counts, 1]), "s", s)
    b = replay(requests, PROFILE, Schedule([*counts, 1]), "s", s)
    assert np.array_equal(a.done_s, b.done_s) and np.array_equal(a.first_token_s, b.first_token_s)
    assert a.gpu_seconds == b.gpu_seconds and a.rules == b.rules
