"""The simulated cloud: boot delays, billing, spot interruptions and spot shortages.

Randomness (boot times, when a spot instance is reclaimed) comes from the run's generator,
drawn in event order, so one seed gives one history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tidewise.model import Offering, PurchaseOption, Resources
from tidewise.sim.services.billing import Charge, instance_charge
from tidewise.sim.services.ledger import CostLedger

PriceOf = Callable[[Offering, Resources | None], float]


@dataclass(frozen=True, slots=True)
class Shortage:
    """Spot launches of ``instance_types`` (all when empty) fail in [start_s, end_s)."""

    start_s: float
    end_s: float
    instance_types: frozenset[str] = frozenset()

    def blocks(self, offering: Offering, now: float) -> bool:
        return (
            offering.option is PurchaseOption.SPOT
            and self.start_s <= now < self.end_s
            and (not self.instance_types or offering.instance_type.name in self.instance_types)
        )


@dataclass(frozen=True, slots=True)
class Storm:
    """A spot storm: in [start_s, end_s) interruptions come ``hazard_multiplier`` times as
    often and only ``capacity`` of spot launches succeed (the pool is that much smaller)."""

    start_s: float
    end_s: float
    hazard_multiplier: float = 10.0
    capacity: float = 0.5

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s or self.hazard_multiplier < 0:
            raise ValueError("a storm needs start < end and a multiplier >= 0")
        if not 0 <= self.capacity <= 1:
            raise ValueError("a storm's spot capacity is a fraction in [0, 1]")


@dataclass(frozen=True, slots=True)
class CloudSettings:
    vm_boot_s: tuple[float, float] = (60.0, 120.0)
    serverless_boot_s: tuple[float, float] = (20.0, 40.0)
    shortages: tuple[Shortage, ...] = ()
    storms: tuple[Storm, ...] = ()
    boot_failure: float = 0.0  # chance that a VM never becomes Ready (billed until released)
    node_failures_per_hour: float = 0.0  # hazard of a Ready VM going NotReady for good

    def storm_at(self, now: float) -> Storm | None:
        return next((s for s in self.storms if s.start_s <= now < s.end_s), None)


@dataclass(slots=True)
class Instance:
    name: str
    offering: Offering
    size: Resources
    price_per_hour: float
    on_demand_per_hour: float
    launched_s: float
    ready_s: float
    reclaim_notice_s: float | None
    fail_s: float | None = None
    released_s: float | None = None


class SimCloud:
    def __init__(
        self,
        settings: CloudSettings,
        horizon_s: float,
        rng: np.random.Generator,
        ledger: CostLedger,
        price_of: PriceOf,
        on_demand_price_of: Callable[[Offering], float],
    ) -> None:
        self.settings = settings
        self.horizon_s = horizon_s
        self.rng = rng
        self.ledger = ledger
        self.price_of = price_of
        self.on_demand_price_of = on_demand_price_of
        self.charges: list[Charge] = []
        self.launches = 0
        self.failures = 0
        self._count = 0

    def launch(
        self, offering: Offering, now: float, size: Resources | None, instant: bool = False
    ) -> Instance | None:
        """Buy one instance, or ``None`` when spot capacity is short right now."""
        storm = self.settings.storm_at(now)
        if any(s.blocks(offering, now) for s in self.settings.shortages) or (
            offering.option is PurchaseOption.SPOT
            and storm is not None
            and self.rng.random() >= storm.capacity
        ):
            self.failures += 1
            return None
        self._count += 1
        self.launches += 1
        serverless = offering.option is PurchaseOption.SERVERLESS
        if serverless and size is None:
            raise ValueError("a serverless launch needs the pod's size")
        low, high = self.settings.serverless_boot_s if serverless else self.settings.vm_boot_s
        boot = 0.0 if instant else float(self.rng.uniform(low, high))
        failing = self.settings.boot_failure > 0 and not (instant or serverless)
        if failing and self.rng.random() < self.settings.boot_failure:
            boot = math.inf  # stuck: the node never joins; a policy must give it back
        shape = size if serverless and size is not None else offering.instance_type.capacity
        instance = Instance(
            name=f"{offering.instance_type.name}-{self._count}",
            offering=offering,
            size=shape,
            price_per_hour=self.price_of(offering, size),
            on_demand_per_hour=(
                self.on_demand_price_of(offering)
                if offering.option is PurchaseOption.RESERVED
                else 0.0
            ),
            launched_s=now,
            ready_s=now + boot,
            reclaim_notice_s=self._draw_notice(offering, now),
            fail_s=None if serverless else self._draw_failure(now + boot),
        )
        self.ledger.change_rate(offering.option, instance.price_per_hour)
        self.ledger.change_size(shape.vcpus, shape.gpu_count)
        return instance

    def term_end(self, instance: Instance) -> None:
        """A reserved term is over: the commitment stops, a still-running node goes on-demand."""
        self.ledger.change_rate(PurchaseOption.RESERVED, -instance.price_per_hour)
        if instance.released_s is None:
            self.ledger.change_rate(PurchaseOption.ON_DEMAND, instance.on_demand_per_hour)

    def release(self, instance: Instance, now: float, minute: int) -> None:
        """Stop the instance and its bill; book the exact bill's difference to what accrued."""
        instance.released_s = now
        option = instance.offering.option
        self.ledger.change_size(-instance.size.vcpus, -instance.size.gpu_count)
        charge = self._charge(instance, now)
        self.charges.append(charge)
        if option is PurchaseOption.RESERVED:
            if now >= instance.launched_s + instance.offering.term_s:
                self.ledger.change_rate(PurchaseOption.ON_DEMAND, -instance.on_demand_per_hour)
            return
        self.ledger.change_rate(option, -instance.price_per_hour)
        accrued = instance.price_per_hour * (now - instance.launched_s) / 3600
        self.ledger.book(minute, option, charge.usd - accrued)

    def _charge(self, instance: Instance, end_s: float) -> Charge:
        return instance_charge(
            instance.offering,
            instance.launched_s,
            end_s,
            self.horizon_s,
            instance.price_per_hour,
            instance.on_demand_per_hour,
        )

    def _draw_notice(self, offering: Offering, now: float) -> float | None:
        """When the reclaim notice for a new spot instance arrives (``None``: not in horizon)."""
        rate = offering.interruptions_per_hour
        if offering.option is not PurchaseOption.SPOT or rate <= 0:
            return None
        start = now + offering.protection_s
        notice = self._after_hazard(start, float(self.rng.exponential(1.0)), rate / 3600)
        return notice if notice < self.horizon_s else None

    def _draw_failure(self, ready_s: float) -> float | None:
        """When a VM that is Ready at ``ready_s`` fails (``None``: not in horizon)."""
        rate = self.settings.node_failures_per_hour
        if rate <= 0 or not math.isfinite(ready_s):
            return None
        fail = ready_s + float(self.rng.exponential(3600 / rate))
        return fail if fail < self.horizon_s else None

    def _after_hazard(self, start: float, budget: float, rate_per_s: float) -> float:
        """The time at which the cumulative hazard from ``start`` reaches ``budget``: the
        first arrival of a Poisson process whose rate storms multiply (piecewise constant)."""
        t = start
        for storm in sorted(self.settings.storms, key=lambda s: s.start_s):
            if storm.end_s <= t:
                continue
            calm = max(storm.start_s - t, 0.0)
            if budget <= calm * rate_per_s:
                return t + budget / rate_per_s
            budget -= calm * rate_per_s
            t = max(t, storm.start_s)
            stormy = rate_per_s * storm.hazard_multiplier
            span = storm.end_s - t
            if stormy > 0 and budget <= span * stormy:
                return t + budget / stormy
            budget -= span * stormy
            t = storm.end_s
        return t + budget / rate_per_s
