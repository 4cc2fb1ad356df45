"""What can be bought: instance types and offerings (type x zone x purchase option x price)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tidewise.model.resources import Resources


class PurchaseOption(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVED = "reserved"
    SERVERLESS = "serverless"


@dataclass(frozen=True, slots=True)
class InstanceType:
    """A VM shape as the catalog lists it; ``gpu_memory_mib`` is per GPU."""

    name: str
    vcpus: float
    memory_mib: int
    gpu_count: int = 0
    gpu_model: str | None = None
    gpu_memory_mib: int = 0

    capacity: Resources = field(init=False, repr=False, compare=False)
    """What a node of this type offers, built once: placement and planning read it for every
    candidate offering."""

    def __post_init__(self) -> None:
        capacity = Resources(
            cpu_milli=round(self.vcpus * 1000),
            memory_mib=self.memory_mib,
            gpu_count=self.gpu_count,
            gpu_memory_mib=self.gpu_memory_mib,
            gpu_model=self.gpu_model,
        )
        object.__setattr__(self, "capacity", capacity)


@dataclass(frozen=True, slots=True)
class Billing:
    """How a provider bills a running instance: per ``increment_s``, at least ``minimum_s``."""

    increment_s: float = 1.0
    minimum_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Offering:
    """One thing that can be launched, with everything a cost model needs to know about it.

    ``price_per_hour`` is the effective hourly rate (for ``reserved``: on-demand less the
    commitment discount, owed for the whole ``term_s`` from purchase). For ``serverless`` the
    instance type is a template and the price comes from ``vcpu_second_usd`` and
    ``gib_second_usd`` applied to the pod's requests.
    """

    instance_type: InstanceType
    zone: str
    option: PurchaseOption
    price_per_hour: float
    interruptions_per_hour: float = 0.0
    notice_s: float = 0.0
    protection_s: float = 0.0
    term_s: float = 0.0
    vcpu_second_usd: float = 0.0
    gib_second_usd: float = 0.0
    billing: Billing = Billing()
    # the pool and option as one string; computed once, as every plan memo hashes it
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = f"{self.instance_type.name}/{self.zone}/{self.option.value}"
        object.__setattr__(self, "key", key)
