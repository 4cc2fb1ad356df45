"""How much capacity to commit to (reserved instances, savings plans) from a demand history.

A commitment of ``c`` units costs ``c x committed_price`` every hour, used or not; demand
above ``c`` runs on demand. Over a history of ``n`` observed hours the total is

    cost(c) = n * c * committed_price + on_demand_price * sum_t max(d_t - c, 0)

This is the newsvendor problem. ``cost`` is convex and piecewise linear in ``c``, with slope
``n * committed_price - on_demand_price * #{t: d_t > c}``: one more committed unit pays off
while the share of hours whose demand exceeds it is above ``committed / on_demand``. So the
optimum is the demand level exceeded in that share of hours, the ``1 - committed / on_demand``
(= the discount) quantile of hourly demand, found exactly on the sorted history.

The history stands in for the whole term: a plan is only as good as the assumption that the
next year's demand looks like the hours it was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CommitmentPlan:
    """The cost-minimising commitment and what it buys, over the observed hours.

    ``coverage``: the share of demand (unit-hours) served by committed capacity;
    ``utilisation``: the share of committed unit-hours that served demand. Both are 0 when
    there is nothing to divide by (no demand, no commitment). ``reason`` says why nothing is
    committed when a commitment could never pay, otherwise it is empty.
    """

    level: float
    hours: int
    committed_per_hour: float
    on_demand_per_hour: float
    total_cost: float
    no_commitment_cost: float
    saving: float
    saving_fraction: float
    coverage: float
    utilisation: float
    reason: str = ""


def plan_commitment(
    demand: np.ndarray,
    on_demand_price: float,
    committed_price: float,
    *,
    whole_units: bool = False,
) -> CommitmentPlan:
    """The commitment level that minimises the history's cost; NaN hours are left out.

    With ``whole_units`` the level is an integer: the cost is convex, so the best integer is
    the floor or the ceiling of the continuous optimum, whichever costs less.
    """
    hours = _observed(demand)
    if not math.isfinite(on_demand_price) or on_demand_price <= 0:
        raise ValueError(f"on-demand price must be > 0, got {on_demand_price}")
    if not math.isfinite(committed_price) or committed_price < 0:
        raise ValueError(f"committed price must be >= 0, got {committed_price}")
    if committed_price >= on_demand_price:
        reason = (
            f"the committed price {committed_price:g} is not below on-demand "
            f"{on_demand_price:g}: a commitment can only cost more"
        )
        return _plan(hours, 0.0, on_demand_price, committed_price, reason)
    ordered = np.sort(hours)
    level = _newsvendor_level(ordered, on_demand_price, committed_price)
    if whole_units:
        level = min(
            (float(math.floor(level)), float(math.ceil(level))),
            key=lambda c: _cost(ordered, c, on_demand_price, committed_price),
        )
    return _plan(hours, level, on_demand_price, committed_price, "")


def _observed(demand: np.ndarray) -> np.ndarray:
    values = np.asarray(demand, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"demand must be one value per hour (1-D), got shape {values.shape}")
    hours = values[~np.isnan(values)]
    if not len(hours):
        raise ValueError("demand history has no observed hours")
    if np.any(np.isinf(hours)) or np.any(hours < 0):
        raise ValueError("demand must be finite and >= 0 in every observed hour")
    return hours


def _newsvendor_level(ordered: np.ndarray, on_demand: float, committed: float) -> float:
    """The lowest sorted demand at which the cost's slope turns non-negative.

    On ``[d_(k), d_(k+1)]`` (1-based, ascending) ``n - k`` hours exceed the level, so the slope
    is ``n * committed - on_demand * (n - k)``; the smallest ``k`` that makes it >= 0 is
    ``ceil(n * (1 - committed / on_demand))``. Floating-point rounding can put that index one
    off at a tie, so it and its neighbours are compared by cost.
    """
    k = math.ceil(len(ordered) * (1 - committed / on_demand))
    levels = np.concatenate(([0.0], ordered))  # levels[k] is d_(k); d_(0) = 0 commits nothing
    candidates = [float(c) for c in levels[max(k - 1, 0) : k + 2]]
    return min(candidates, key=lambda c: (_cost(ordered, c, on_demand, committed), c))


def _cost(hours: np.ndarray, level: float, on_demand: float, committed: float) -> float:
    overflow = np.maximum(hours - level, 0.0).sum()
    return float(len(hours) * level * committed + overflow * on_demand)


def _plan(
    hours: np.ndarray, level: float, on_demand: float, committed: float, reason: str
) -> CommitmentPlan:
    n = len(hours)
    served = float(np.minimum(hours, level).sum())
    overflow = float(np.maximum(hours - level, 0.0).sum())
    total_demand = float(hours.sum())
    committed_per_hour = level * committed
    on_demand_per_hour = overflow * on_demand / n
    total = (committed_per_hour + on_demand_per_hour) * n
    without = total_demand * on_demand
    saving = without - total
    return CommitmentPlan(
        level=level,
        hours=n,
        committed_per_hour=committed_per_hour,
        on_demand_per_hour=on_demand_per_hour,
        total_cost=total,
        no_commitment_cost=without,
        saving=saving,
        saving_fraction=saving / without if without > 0 else 0.0,
        coverage=served / total_demand if total_demand > 0 else 0.0,
        utilisation=served / (level * n) if level > 0 else 0.0,
        reason=reason,
    )
