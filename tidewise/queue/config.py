"""Queues and their GPU quotas, per GPU model (Kueue's ClusterQueue and ResourceFlavor).

Quota covers GPUs only, in milli-GPU per GPU model (the *flavour*): GPUs are what is scarce
and what users are billed for; CPU and memory are limited by the real fit check instead.
Queues naming the same ``cohort`` lend each other the nominal quota they do not use
(``lending_limit``: how much of it they lend, ``None`` all of it) and borrow from each other
up to ``borrowing_limit`` beyond their own nominal (``None``: as much as the cohort has).
"""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model import MILLI_PER_GPU


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    """GPU quota of one queue on one GPU model, in milli-GPU."""

    flavor: str
    nominal_milli: int
    borrowing_limit_milli: int | None = None
    lending_limit_milli: int | None = None

    def __post_init__(self) -> None:
        for name in ("nominal_milli", "borrowing_limit_milli", "lending_limit_milli"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{self.flavor}: {name} must be >= 0, got {value}")
        if self.lending_limit_milli is not None and self.lending_limit_milli > self.nominal_milli:
            raise ValueError(f"{self.flavor}: cannot lend more than the nominal quota")

    @classmethod
    def gpus(
        cls,
        flavor: str,
        nominal: float,
        borrowing_limit: float | None = None,
        lending_limit: float | None = None,
    ) -> FlavorQuota:
        """The quota given in GPUs, as a user writes it."""
        return cls(
            flavor,
            _milli(nominal),
            None if borrowing_limit is None else _milli(borrowing_limit),
            None if lending_limit is None else _milli(lending_limit),
        )

    @property
    def lendable_milli(self) -> int:
        return self.nominal_milli if self.lending_limit_milli is None else self.lending_limit_milli

    @property
    def guaranteed_milli(self) -> int:
        """The part of the nominal quota no other queue may use."""
        return self.nominal_milli - self.lendable_milli


def _milli(gpus: float) -> int:
    return round(gpus * MILLI_PER_GPU)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue: flavours tried in the order given, a cohort, a fair-share weight."""

    name: str
    quotas: tuple[FlavorQuota, ...]
    cohort: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        flavors = [q.flavor for q in self.quotas]
        if len(set(flavors)) != len(flavors):
            raise ValueError(f"queue {self.name}: a flavour is listed twice in {flavors}")
        if self.weight <= 0:
            raise ValueError(f"queue {self.name}: weight must be > 0, got {self.weight}")

    def quota(self, flavor: str) -> FlavorQuota | None:
        return next((q for q in self.quotas if q.flavor == flavor), None)


def whole_cluster_queue(gpus_by_model: dict[str, int], name: str) -> QueueConfig:
    """One queue whose quota is every GPU there is: the fit check alone decides (a cluster
    with no queues configured, as a newcomer's first run)."""
    quotas = sorted(gpus_by_model.items())
    return QueueConfig(name, tuple(FlavorQuota.gpus(model, count) for model, count in quotas))
