"""Per-offering launch backoff: cluster-autoscaler's node group backoff (5 min doubling to
30 min, forgotten after 3 h without a failure)."""

from tidewise.kube.provider.backoff import LaunchBackoff


def test_each_failure_doubles_the_backoff_up_to_the_cap_per_offering():
    backoff = LaunchBackoff()
    waits = [backoff.failed("a", t) - t for t in (0.0, 400.0, 1100.0, 2400.0, 4300.0)]
    assert waits == [300.0, 600.0, 1200.0, 1800.0, 1800.0]
    assert backoff.blocked(4300.0) == {"a"}
    assert backoff.blocked(4300.0 + 1800.0) == frozenset()
    assert backoff.failed("b", 4300.0) - 4300.0 == 300.0  # another offering: its own count


def test_a_failure_long_after_the_last_starts_over():
    backoff = LaunchBackoff()
    backoff.failed("a", 0.0)
    backoff.failed("a", 400.0)
    assert backoff.failed("a", 400.0 + 3 * 3600 + 1) - (400.0 + 3 * 3600 + 1) == 300.0
