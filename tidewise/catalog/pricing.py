"""Prices that no VM catalog lists: commitments (reserved / savings plans) and serverless.

Reserved. A 1-year commitment is modelled as a flat discount on the on-demand rate, owed for the
whole term. The default 40 % is the top of the range that 1-year, no-upfront AWS Reserved
Instances typically save (~30-40 %); 3-year or all-upfront Reserved Instances and Savings Plans
go further, up to 66 % (Compute SP) and 72 % (EC2 Instance SP / Standard RI). Sources: AWS
Savings Plans and Reserved Instance pricing pages, summarised in the project's research notes
(``autoscaling-cost.md`` section 5).

Serverless containers. The default unit prices are Alibaba Cloud ECI pay-as-you-go list
prices, general-purpose class: 0.000049 CNY per vCPU-second and 0.00000613 CNY per
GiB-second (ECI DescribeContainerGroupPrice, same research notes), converted at 0.138 USD per
CNY, the fixed rate the Alibaba catalog we read uses (sugarlxn/skypilot-catalog README), so
that serverless and ECS prices stay comparable. ECI rounds a request up to the nearest
supported spec (e.g. 7 vCPU / 13 GiB -> 8 vCPU / 14 GiB); we simplify that table to steps of
0.25 vCPU and 0.5 GiB, at least one step each.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model import Offering, PurchaseOption, Resources

CNY_TO_USD = 0.138
"""Fixed conversion used by the Alibaba catalog (sugarlxn/skypilot-catalog); kept identical."""

SECONDS_PER_HOUR = 3600.0
SERVERLESS_VCPU_STEP_MILLI = 250
SERVERLESS_MEMORY_STEP_MIB = 512


@dataclass(frozen=True, slots=True)
class ReservedPricing:
    """A commitment: ``discount`` off on-demand, paid for ``term_s`` seconds from purchase."""

    discount: float = 0.4
    term_s: float = 365 * 86400.0

    def __post_init__(self) -> None:
        if not 0 <= self.discount < 1:
            raise ValueError(f"discount must be in [0, 1), got {self.discount}")
        if self.term_s <= 0:
            raise ValueError(f"term_s must be > 0, got {self.term_s}")

    def price_per_hour(self, on_demand_per_hour: float) -> float:
        """The effective hourly rate of a committed instance."""
        return on_demand_per_hour * (1 - self.discount)


@dataclass(frozen=True, slots=True)
class ServerlessPricing:
    """Per-second prices of a serverless container's requested vCPUs and memory.

    ``max_vcpus`` and ``max_memory_gib`` bound what one container may ask for; they size the
    template instance type of the serverless offering.
    """

    vcpu_second_usd: float = 0.000049 * CNY_TO_USD
    gib_second_usd: float = 0.00000613 * CNY_TO_USD
    max_vcpus: int = 64
    max_memory_gib: int = 256

    def __post_init__(self) -> None:
        if self.vcpu_second_usd < 0 or self.gib_second_usd < 0:
            raise ValueError("serverless unit prices must be >= 0")
        if self.max_vcpus <= 0 or self.max_memory_gib <= 0:
            raise ValueError("max_vcpus and max_memory_gib must be > 0")


DEFAULT_RESERVED = ReservedPricing()
DEFAULT_SERVERLESS = ServerlessPricing()


def serverless_price_per_hour(offering: Offering, requests: Resources) -> float:
    """What one container with these requests costs per hour on a serverless offering (the
    sum of :func:`serverless_parts_per_hour`)."""
    return sum(serverless_parts_per_hour(offering, requests))


def serverless_parts_per_hour(offering: Offering, requests: Resources) -> tuple[float, float]:
    """What one container with these requests costs per hour on a serverless offering, as
    its vCPUs' and its memory's parts (the provider bills each by the second).

    vCPUs and memory are each rounded up to the next 0.25 vCPU / 0.5 GiB step (at least one
    step), our simplification of ECI's spec rounding. Raises ``ValueError`` for an offering
    that is not serverless, or requests the template cannot hold (more than its vCPUs or
    memory, or any GPU, since the template has none).
    """
    if offering.option is not PurchaseOption.SERVERLESS:
        raise ValueError(f"{offering.key} is not a serverless offering")
    limit = offering.instance_type.capacity
    if (
        requests.cpu_milli > limit.cpu_milli
        or requests.memory_mib > limit.memory_mib
        or (requests.wants_gpu and not limit.gpu_count)
    ):
        raise ValueError(f"{requests} does not fit one container of {offering.key} ({limit})")
    vcpu_steps = max(1, -(-requests.cpu_milli // SERVERLESS_VCPU_STEP_MILLI))
    memory_steps = max(1, -(-requests.memory_mib // SERVERLESS_MEMORY_STEP_MIB))
    vcpus = vcpu_steps * SERVERLESS_VCPU_STEP_MILLI / 1000
    memory_gib = memory_steps * SERVERLESS_MEMORY_STEP_MIB / 1024
    return (
        vcpus * offering.vcpu_second_usd * SECONDS_PER_HOUR,
        memory_gib * offering.gib_second_usd * SECONDS_PER_HOUR,
    )
