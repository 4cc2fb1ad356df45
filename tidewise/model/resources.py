"""Resource quantities in the project's units (see DESIGN.md §3).

CPU is in millicores, memory and GPU memory in MiB, a GPU share in milli-GPU (1000 = one whole
GPU). Integers everywhere so that sums and comparisons are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidewise.model.quantity import quantity, quantity_suffix

MILLI_PER_GPU = 1000

UNTRACKED_GPU_MEMORY_MIB = 1 << 40
"""The memory of a GPU whose size is unknown: so large that it never limits a pod."""


@dataclass(frozen=True, slots=True)
class Resources:
    """What a pod asks for or what a node offers.

    A pod asks either for ``gpu_count`` whole GPUs, or for a share of one GPU given by
    ``gpu_milli`` (1..999) and/or ``gpu_memory_mib``; ``gpu_model`` restricts the models it
    accepts (``None`` accepts any; alternatives as ``"A10G|L4"``, kept sorted so that equal
    sets compare equal). With whole GPUs, ``gpu_memory_mib`` is the least memory each must
    have. A node offers ``gpu_count`` GPUs of model ``gpu_model`` with ``gpu_memory_mib`` each
    (0: unknown).
    """

    cpu_milli: int = 0
    memory_mib: int = 0
    gpu_count: int = 0
    gpu_milli: int = 0
    gpu_memory_mib: int = 0
    gpu_model: str | None = None

    def __post_init__(self) -> None:
        for name in ("cpu_milli", "memory_mib", "gpu_count", "gpu_milli", "gpu_memory_mib"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.gpu_count and self.gpu_milli:
            raise ValueError("ask for whole GPUs (gpu_count) or a GPU share (gpu_milli), not both")
        if self.gpu_milli >= MILLI_PER_GPU:
            raise ValueError(f"gpu_milli must be < {MILLI_PER_GPU}; ask for whole GPUs instead")
        if self.gpu_model is not None and "|" in self.gpu_model:
            canonical = "|".join(sorted(set(self.gpu_model.split("|"))))
            object.__setattr__(self, "gpu_model", canonical)

    @property
    def wants_gpu(self) -> bool:
        return bool(self.gpu_count or self.gpu_milli or self.gpu_memory_mib)

    @property
    def is_gpu_share(self) -> bool:
        return self.wants_gpu and not self.gpu_count

    @property
    def gpu_models(self) -> frozenset[str] | None:
        """The GPU models a pod accepts; ``None``: any."""
        return frozenset(self.gpu_model.split("|")) if self.gpu_model else None

    @property
    def gpu_devices(self) -> int:
        """How many GPUs a pod takes part of: its whole GPUs, 1 for a share, else 0."""
        return self.gpu_count or int(self.wants_gpu)

    @property
    def gpu_milli_each(self) -> int:
        """The milli-GPU a pod takes on each of its GPUs: all of it for whole GPUs."""
        return MILLI_PER_GPU if self.gpu_count else self.gpu_milli

    @property
    def gpu_milli_total(self) -> int:
        """The milli-GPU a pod asks for in all (a share sized by memory alone asks for 0)."""
        return self.gpu_devices * self.gpu_milli_each

    @property
    def device_memory_mib(self) -> int:
        """A node's memory per GPU, :data:`UNTRACKED_GPU_MEMORY_MIB` when unknown."""
        return self.gpu_memory_mib or UNTRACKED_GPU_MEMORY_MIB

    @property
    def vcpus(self) -> float:
        return self.cpu_milli / 1000


def parse_cpu(value: str | int | float) -> int:
    """A Kubernetes CPU quantity (``"500m"``, ``"2"``, ``1.5``) in millicores, rounded up as
    Kubernetes' ``MilliValue`` rounds it."""
    cores = quantity(value)
    if cores < 0:
        raise ValueError("a non-negative CPU quantity")
    return math.ceil(cores * 1000)


def parse_memory(value: str | int) -> int:
    """A Kubernetes memory quantity (``"512Mi"``, ``"2Gi"``) in MiB, rounded up.

    A number without a unit is refused, although Kubernetes would read it as bytes: whether
    ``512`` means bytes or MiB is the most common unit mistake in a request.
    """
    amount = quantity(value)
    text = value.strip() if isinstance(value, str) else repr(value)
    suffix = quantity_suffix(text)
    if suffix == "" or suffix[0] in "eE":
        raise ValueError(
            f"{text!r} has no unit and Kubernetes would read it as {text} bytes: "
            "write the unit, such as '512Mi' or '2Gi'"
        )
    if amount < 0:
        raise ValueError("a non-negative memory quantity such as '2Gi'")
    return math.ceil(amount / 2**20)


_DURATION_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | int | float) -> float:
    """``"90s"``, ``"5m"``, ``"7d"`` or a number of seconds to seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as '90s', '5m' or '7d'")
    seconds = float(value) if isinstance(value, int | float) else _duration_text(value.strip())
    if seconds < 0:
        raise ValueError("a non-negative duration")
    return seconds


def _duration_text(text: str) -> float:
    for suffix in sorted(_DURATION_UNITS_S, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * _DURATION_UNITS_S[suffix]
            except ValueError:
                break
    raise ValueError("a duration with a unit (s, m, h, d, w), such as '90s' or '7d'")
