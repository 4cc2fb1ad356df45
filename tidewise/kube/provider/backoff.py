"""Per-offering launch backoff: after a launch fails, that offering is not bought for a while.

Why per offering and exponential: a failure is usually the offering's (no capacity in that
pool, a quota, a refused machine), not the cluster's, so the provisioner buys the next best
offering at once instead of retrying the same one every round, and comes back to it later,
waiting longer after each failure. The numbers are cluster-autoscaler's node group backoff
(``--initial-node-group-backoff-duration`` 5 min, doubling up to
``--max-node-group-backoff-duration`` 30 min, forgotten after
``--node-group-backoff-reset-timeout`` 3 h without a failure; cluster-autoscaler
``config/flags``). Backed-off offerings reach the policies as the view's
``unavailable_offerings``, the same field a cloud's capacity errors fill in the twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class _Failure:
    until_s: float
    wait_s: float
    at_s: float


@dataclass
class LaunchBackoff:
    initial_s: float = 300.0
    max_s: float = 1800.0
    reset_s: float = 3 * 3600.0
    _failures: dict[str, _Failure] = field(default_factory=dict, init=False)

    def failed(self, key: str, now_s: float) -> float:
        """Record a failed launch of offering ``key``; when it may be bought again."""
        last = self._failures.get(key)
        recent = last is not None and now_s - last.at_s < self.reset_s
        wait = min(last.wait_s * 2, self.max_s) if last is not None and recent else self.initial_s
        self._failures[key] = _Failure(now_s + wait, wait, now_s)
        return now_s + wait

    def blocked(self, now_s: float) -> frozenset[str]:
        """The offerings not to buy now."""
        return frozenset(k for k, f in self._failures.items() if f.until_s > now_s)
