"""Replicas sized to a service level, not to a CPU target.

The HPA keeps every replica at its target utilisation (70 % by default): 1.43x the load
whether the service runs 3 replicas or 300. A service level asks a different question: how
many replicas keep the chance that the load outgrows them within a minute at ``risk``?

A service's load in one minute scatters around its level ``L`` (requests per second) as an
over-dispersed Poisson count, variance ``d x L`` (``predictive.dispersion`` measures ``d``
per service from its own history). With replicas of capacity ``mu`` each, ``c`` Ready
replicas are overloaded when ``L + sigma Z > c mu``, so the smallest safe count is

    c = R + z * sqrt(d * L) / mu = R + beta * sqrt(R),   R = L / mu,  beta = z * sqrt(d / mu)

with ``z`` the standard normal's upper ``risk`` quantile: the square-root staffing rule
(Erlang, 1948; Halfin and Whitt, "Heavy-traffic limits for queues with many exponential
servers", Operations Research 29(3), 1981). Headroom grows as the square root of the load,
not in proportion: a small service needs more than 1.43x, a large one much less.

A latency objective is the other reading of the same model: with each replica a server of
rate ``mu``, M/M/c, the share of requests that wait at all is Erlang C, ``C(c, R)``; the
smallest ``c`` with ``C(c, R) <= wait_probability`` keeps it. Halfin and Whitt show that
this ``c`` is also ``R + beta sqrt(R)`` for a ``beta`` fixed by the probability, so both
objectives size alike; a service level may give both and gets the larger count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def erlang_c(servers: int, offered: float) -> float:
    """M/M/c's probability that an arriving request waits: ``servers`` replicas, ``offered``
    load in replicas (arrival rate over one replica's service rate). 1 when ``servers`` cannot
    carry the load. Through Erlang B's recurrence, which stays finite for any size."""
    if offered <= 0:
        return 0.0
    if servers <= offered:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return servers * blocking / (servers - offered * (1 - blocking))


def servers_for_wait(offered: float, wait_probability: float) -> int:
    """The fewest servers that keep M/M/c's probability of waiting at ``wait_probability``."""
    servers = math.floor(offered) + 1 if offered > 0 else 0
    while erlang_c(servers, offered) > wait_probability:
        servers += 1
    return servers


@dataclass(frozen=True)
class ServiceLevel:
    """The objective one service is sized to.

    ``overload_risk``: the chance per minute that the load outgrows the Ready replicas (the
    twin counts such a minute as a violation when under 99.9 % is served). Optional
    ``wait_probability``: the share of requests allowed to queue (M/M/c, Erlang C).
    """

    overload_risk: float = 0.01
    wait_probability: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.overload_risk < 0.5:
            raise ValueError("overload_risk must be in (0, 0.5), e.g. 0.01 for 1 % of minutes")
        if self.wait_probability is not None and not 0 < self.wait_probability < 1:
            raise ValueError("wait_probability must be in (0, 1)")

    @property
    def z(self) -> float:
        """How many standard deviations of the minute's load the replicas stand above it."""
        return NormalDist().inv_cdf(1 - self.overload_risk)

    def replicas(self, load: float, replica_capacity: float, dispersion: float) -> int:
        """Replicas for a load level ``load`` (rps) whose minutes vary as ``dispersion x
        load``, each replica serving ``replica_capacity``; 0 for no load."""
        if load <= 0:
            return 0
        bound = load + self.z * math.sqrt(dispersion * load)
        count = math.ceil(bound / replica_capacity - 1e-9)
        if self.wait_probability is not None:
            count = max(count, servers_for_wait(load / replica_capacity, self.wait_probability))
        return count
