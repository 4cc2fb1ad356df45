"""Serverless bursts in the autoscaling benchmark: VM replicas for the likely range, and
serverless containers for the load they miss while VMs start.

The replica policy sizes the VM replicas (at a looser ``overload_risk`` they cover the
forecast's likely range, not its tail). Each period, the replicas the load seen now needs
beyond the Ready VM replicas are run on serverless containers, Ready after the serverless
start-up (tens of seconds; a VM replica needs the longer ``startup_s``), billed per second
from creation. A container that has run past the break-even of the twin's rule
(:func:`tidewise.capacity.serverless.break_even_s`: a VM bought for it would have been
cheaper) asks for a VM replica in its place, as ``tidewise.capacity.virtual_node`` moves a
pod back. Prices come from a catalog: the cheapest VM offering per replica of ``requests``
and the serverless offering's per-second rates.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewise.capacity.provisioning import cheapest_offering
from tidewise.capacity.serverless import BREAK_EVEN_OVERHEAD_S, break_even_s, hosts
from tidewise.catalog import serverless_price_per_hour
from tidewise.model import Offering, PurchaseOption, Resources

VM_OPTIONS = frozenset({PurchaseOption.SPOT, PurchaseOption.ON_DEMAND})


@dataclass(frozen=True)
class BurstPricing:
    """One replica's price per hour on the cheapest VM and on serverless, and how long a
    serverless container may run before a VM replica replaces it."""

    vm_per_replica_hour: float
    serverless_per_replica_hour: float
    break_even_s: float
    startup_s: float  # serverless: creation to Ready (container boot and the app's start)


def burst_pricing(
    offerings: Sequence[Offering],
    requests: Resources,
    startup_s: float,
    overhead_s: float = BREAK_EVEN_OVERHEAD_S,
) -> BurstPricing:
    """The pricing of a replica of ``requests`` among ``offerings`` (VMs: spot and on-demand);
    ``ValueError`` when no serverless offering can host it or no VM can."""
    serverless = [o for o in offerings if o.option is PurchaseOption.SERVERLESS]
    if not any(hosts(o, requests) for o in serverless):
        raise ValueError("no serverless offering of the catalog can host a replica")
    offering = next(o for o in serverless if hosts(o, requests))
    vms = [o for o in offerings if o.option in VM_OPTIONS]
    choice = cheapest_offering(requests, vms)
    if choice is None:
        raise ValueError("no VM offering of the catalog can host a replica")
    return BurstPricing(
        vm_per_replica_hour=choice.price_per_pod,
        serverless_per_replica_hour=serverless_price_per_hour(offering, requests),
        break_even_s=break_even_s(requests, offering, vms, overhead_s),
        startup_s=startup_s,
    )


@dataclass
class Burst:
    """The serverless containers of one replayed service: creation times, oldest first."""

    pricing: BurstPricing
    created: list[float] = field(default_factory=list)
    pod_seconds: float = 0.0

    def ready(self, now: float) -> int:
        return bisect.bisect_right(self.created, now - self.pricing.startup_s)

    def past_break_even(self, now: float) -> int:
        """Containers that have run past the break-even: each asks for a VM replica."""
        return bisect.bisect_right(self.created, now - self.pricing.break_even_s)

    def follow(self, load: float, capacity: float, vm_ready: int, now: float) -> None:
        """Run the containers the load seen now needs beyond the Ready VM replicas: start
        the missing ones, stop the surplus (the ones still starting first, then the
        newest)."""
        want = max(0, math.ceil(load / capacity - 1e-9) - vm_ready) if load > 0 else 0
        while len(self.created) < want:
            self.created.append(now)
        del self.created[want:]

    def accrue(self, dt: float) -> None:
        self.pod_seconds += len(self.created) * dt

    @property
    def usd(self) -> float:
        return self.pod_seconds / 3600 * self.pricing.serverless_per_replica_hour
