"""Where the twin's money and service go, minute by minute.

Costs accrue as rates between events, so the time series is exact to the second; when an
instance is released the difference to its exact bill (per-second rounding, minimum charge)
is booked in that minute, so the series always sums to the bills of ``billing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tidewise.model import PurchaseOption
from tidewise.model.results import PURCHASE_OPTIONS

OPTION_INDEX = {PurchaseOption(name): i for i, name in enumerate(PURCHASE_OPTIONS)}


@dataclass(frozen=True, slots=True)
class CostRates:
    """What the fleet costs and holds per second at one instant: a span of time with no
    change in between is accrued at once (:meth:`CostLedger.accrue`)."""

    usd_per_s: tuple[float, ...]
    vcpus: float
    gpus: int


class CostLedger:
    """Cost per minute and per purchase option, from rates and one-off adjustments.

    ``changes`` counts the changes of rate or size, so a caller can tell whether the rates it
    took (:meth:`rates`) still hold."""

    def __init__(self, minutes: int) -> None:
        self.per_minute = np.zeros((len(PURCHASE_OPTIONS), minutes))
        self.rate_per_s = [0.0] * len(PURCHASE_OPTIONS)
        self.vcpus = 0.0
        self.gpus = 0
        self.vcpu_seconds = 0.0
        self.gpu_seconds = 0.0
        self.changes = 0

    def change_rate(self, option: PurchaseOption, usd_per_hour: float) -> None:
        self.rate_per_s[OPTION_INDEX[option]] += usd_per_hour / 3600
        self.changes += 1

    def change_size(self, vcpus: float, gpus: int) -> None:
        self.vcpus += vcpus
        self.gpus += gpus
        self.changes += 1

    def rates(self) -> CostRates:
        return CostRates(tuple(self.rate_per_s), self.vcpus, self.gpus)

    def book(self, minute: int, option: PurchaseOption, usd: float) -> None:
        self.per_minute[OPTION_INDEX[option], minute] += usd

    def accrue(self, minute: int, dt: float, rates: CostRates) -> None:
        """``dt`` seconds of ``minute`` at ``rates`` (taken when the span began)."""
        for i, rate in enumerate(rates.usd_per_s):
            if rate:
                self.per_minute[i, minute] += rate * dt
        self.vcpu_seconds += rates.vcpus * dt
        self.gpu_seconds += rates.gpus * dt

    def totals(self) -> dict[str, float]:
        return {name: float(self.per_minute[i].sum()) for i, name in enumerate(PURCHASE_OPTIONS)}


class ServiceLedger:
    """Demand and ready capacity per workload per minute, and what was served."""

    def __init__(self, demand_rps: np.ndarray) -> None:
        self.demand_rps = demand_rps  # workloads x minutes, constant within a minute
        self.capacity_rps_s = np.zeros_like(demand_rps)  # integral within each minute
        self.served_rps_s = np.zeros_like(demand_rps)

    def accrue(self, minute: int, dt: float, capacity_rps: np.ndarray) -> None:
        """``dt`` seconds of ``minute`` with ``capacity_rps`` Ready per workload."""
        self.capacity_rps_s[:, minute] += capacity_rps * dt
        self.served_rps_s[:, minute] += np.minimum(capacity_rps, self.demand_rps[:, minute]) * dt

    def served_fraction(self, w: int | None = None) -> float:
        rows = slice(None) if w is None else slice(w, w + 1)
        demand = float(self.demand_rps[rows].sum()) * 60
        if demand == 0:
            return 1.0
        # served never exceeds demand; the sums can differ in the last bit
        return min(1.0, float(self.served_rps_s[rows].sum()) / demand)

    def violation_minutes(self, w: int | None = None) -> int:
        """Minutes in which a workload served less than 99.9 % of its demand."""
        rows = slice(None) if w is None else slice(w, w + 1)
        short = self.served_rps_s[rows] < 0.999 * self.demand_rps[rows] * 60
        return int(short.sum())
