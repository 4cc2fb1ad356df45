"""Knative's KPA arithmetic, computed by hand: target 10 at 70 % is 7 requests a pod."""

from tidewise.scaling.serving.kpa import KnativeKpa


def feed(kpa, obs, values, start=0.0, ready=1, replicas=None):
    """Ticks every 2 s with the given concurrency; the last decision."""
    decision = None
    for k, value in enumerate(values):
        decision = kpa.recommend(
            obs(
                now=start + 2.0 * k,
                replicas=ready if replicas is None else replicas,
                ready=ready,
                concurrency=value,
            )
        )
    return decision


def test_stable_window_average_over_target(obs):
    kpa = KnativeKpa(target=10)
    # 30 ticks (60 s) at 20 in flight on 2 pods: ceil(20 / 7) = 3
    decision = feed(kpa, obs, [20.0] * 30, ready=2)
    assert (decision.replicas, decision.rule) == (3, "stable")


def test_panic_when_the_short_window_wants_twice_the_ready_pods(obs):
    kpa = KnativeKpa(target=10)
    # 57 s at 0, then 3 ticks at 30: panic window (6 s) averages 30 -> ceil(30 / 7) = 5 pods,
    # 5 / 1 ready >= 200 %; the stable window (mean 3) alone would keep 1
    decision = feed(kpa, obs, [0.0] * 27 + [30.0] * 3, ready=1)
    assert (decision.replicas, decision.rule) == (5, "panic")
    # while panicking it never scales down, though the burst is over
    decision = feed(kpa, obs, [0.0] * 5, start=60.0, ready=1)
    assert (decision.replicas, decision.rule) == (5, "panic")


def test_panic_ends_a_stable_window_after_the_last_burst(obs):
    kpa = KnativeKpa(target=10)
    feed(kpa, obs, [0.0] * 27 + [30.0] * 3, ready=1)
    # last over-threshold tick at t = 58 s; at t >= 118 s panic is over
    decision = feed(kpa, obs, [7.0] * 31, start=60.0, ready=5)
    assert decision.rule == "stable"
    assert decision.replicas == 2  # floor(5 / 2): the max scale-down rate of 2


def test_scale_to_zero_waits_for_the_grace_period(obs):
    kpa = KnativeKpa(target=10)
    decision = feed(kpa, obs, [0.0] * 30, ready=1)  # 0 wanted from t = 0
    assert (decision.replicas, decision.rule) == (0, "to zero")  # 58 s >= 30 s grace
    kpa = KnativeKpa(target=10)
    decision = feed(kpa, obs, [0.0] * 10, ready=1)  # t = 18 s: still inside the grace
    assert (decision.replicas, decision.rule) == (1, "grace")


def test_a_buffered_request_brings_a_pod_back_from_zero(obs):
    kpa = KnativeKpa(target=10)
    decision = kpa.recommend(obs(now=0.0, replicas=0, ready=0, waiting=1, concurrency=1.0))
    assert decision.replicas == 1


def test_min_and_max_scale_bound_the_answer(obs):
    assert feed(KnativeKpa(target=10, min_scale=2), obs, [0.0] * 30).replicas == 2
    assert feed(KnativeKpa(target=10, max_scale=2), obs, [100.0] * 30, ready=2).replicas == 2
