"""What one instance costs: the billing rules of the twin, as one pure function.

Per-second billing with a minimum charge (AWS Linux on-demand and spot: per second, 60 s
minimum); billing runs from launch to release. A reserved instance is a commitment: its
discounted rate is owed for the whole term from purchase (within the replayed horizon) even
if it is released earlier; if it runs past its term it continues at the on-demand rate.
Serverless containers bill the same way on the pod's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidewise.model import Offering, PurchaseOption


@dataclass(frozen=True, slots=True)
class Charge:
    """Cost of one instance, split by the purchase option it is billed under."""

    usd: float
    option: PurchaseOption
    overrun_usd: float = 0.0  # reserved past its term, billed on-demand


def billed_seconds(offering: Offering, seconds: float) -> float:
    """Seconds charged for a run: rounded up to the billing increment, at least the minimum."""
    step = offering.billing.increment_s
    rounded = math.ceil(seconds / step - 1e-9) * step
    return max(rounded, offering.billing.minimum_s)


def instance_charge(
    offering: Offering,
    start_s: float,
    end_s: float,
    horizon_s: float,
    price_per_hour: float,
    on_demand_per_hour: float = 0.0,
) -> Charge:
    """Cost of an instance launched at ``start_s`` and released at ``end_s`` (<= horizon).

    ``price_per_hour`` is the offering's rate for this instance (for serverless: for the
    pod's size); ``on_demand_per_hour`` prices a reserved instance's run past its term.
    """
    if end_s < start_s:
        raise ValueError("an instance cannot end before it starts")
    if offering.option is PurchaseOption.RESERVED:
        term_end = start_s + offering.term_s
        committed = min(term_end, horizon_s) - start_s
        overrun = max(0.0, end_s - term_end)
        return Charge(
            usd=price_per_hour * committed / 3600,
            option=offering.option,
            overrun_usd=on_demand_per_hour * overrun / 3600,
        )
    return Charge(
        usd=price_per_hour * billed_seconds(offering, end_s - start_s) / 3600,
        option=offering.option,
    )
