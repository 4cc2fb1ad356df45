"""Read instance shapes and prices from a SkyPilot-format ``vms.csv``.

SkyPilot's catalog repository (skypilot-org/skypilot-catalog, ``catalogs/v9/<cloud>/vms.csv``)
is the most complete open listing of VM shapes and prices, and forks use the same columns for
other clouds (e.g. an Alibaba Cloud fetcher). Reading that format lets users point tidewise at
a fresh catalog instead of waiting for us to ship one. Required columns are listed in
:data:`REQUIRED_COLUMNS`; AcceleratorName, AcceleratorCount, GpuInfo and SpotPrice are read when
present; other columns (Arch, local disks, Generation) are ignored.

The two ``GpuInfo`` dialects seen in real files are both understood:

* AWS v9: a Python-literal dict, ``{'Gpus': [{'Name': 'T4', ..., 'MemoryInfo':
  {'SizeInMiB': 16384}}], 'TotalGpuMemoryInMiB': 16384}``; ``MemoryInfo`` is per GPU. It is
  parsed with :func:`ast.literal_eval`, which evaluates literals only, never code.
* Alibaba (sugarlxn/skypilot-catalog fork): text such as ``"P4 8GB"`` or ``"T4/2 8GB"``, the
  trailing size being per GPU. Text without a size (``"intel SG1"``) gives unknown memory, 0.

A fractional ``AcceleratorCount`` below one (AWS g6f: 0.25 of an L4) is a partition of one GPU
that the VM sees as one smaller device. It becomes ``gpu_count=1`` with model ``"L4/4"`` (the
naming Alibaba already uses for its vGPU slices, ``"T4/2"``) so that nobody places a pod that
wants a whole L4 on it.

Sanity rule: a row whose on-demand price is below :data:`MIN_ON_DEMAND_USD_PER_VCPU_HOUR` is
rejected (reported, not loaded). Real quotes are far above it; the cheapest on-demand rate in
AWS us-east-1 is t4g.nano at 0.0042 $/h for 2 vCPUs, 0.0021 $/vCPU-h (Karpenter's price table,
aws/karpenter-provider-aws). The Alibaba cn-beijing file has an upstream artefact,
``ecs.gn5i-c12g1.6xlarge`` in cn-beijing-k at 0.011592 $/h for 24 vCPUs (0.00048 $/vCPU-h),
which this rule drops. Spot prices are not checked: deep spot discounts are real.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from tidewise.catalog.errors import CatalogError
from tidewise.files import read_input
from tidewise.model import InstanceType

MIN_ON_DEMAND_USD_PER_VCPU_HOUR = 0.001
"""Half the cheapest real on-demand rate we know of (0.0021 $/vCPU-h, see module docstring)."""

REQUIRED_COLUMNS = ("InstanceType", "vCPUs", "MemoryGiB", "Price", "Region", "AvailabilityZone")

_TEXT_GPU_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*GB$")


@dataclass(frozen=True, slots=True)
class VmQuote:
    """One row of a ``vms.csv``: a shape and its prices in one zone (``None``: not offered)."""

    instance_type: InstanceType
    region: str
    zone: str
    on_demand_per_hour: float | None
    spot_per_hour: float | None


@dataclass(frozen=True, slots=True)
class SkyPilotVms:
    """The usable rows of a file, and why any others were left out (one line per row)."""

    quotes: tuple[VmQuote, ...]
    rejected: tuple[str, ...]


def read_skypilot_vms(
    path: Path,
    *,
    region: str | None = None,
    zones: Collection[str] | None = None,
    instance_types: Collection[str] | None = None,
) -> SkyPilotVms:
    """Parse ``path``, keeping the rows of ``region``, ``zones`` and ``instance_types``.

    A filter left as ``None`` keeps everything. Raises :class:`CatalogError` for a malformed
    row, a (type, zone) listed twice, or a type whose shape differs between rows (either would
    make "the price of this offering" ambiguous).
    """
    quotes: list[VmQuote] = []
    rejected: list[str] = []
    shapes: dict[str, tuple[InstanceType, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    # the shared reader: a missing, binary or cut-short file is one error naming it
    with io.StringIO(read_input(path), newline="") as file:
        reader = csv.DictReader(file)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise CatalogError(path, 1, missing[0], "required column missing from the header")
        for record in reader:
            row = reader.line_num
            quote = _parse_row(path, row, record)
            if region is not None and quote.region != region:
                continue
            if zones is not None and quote.zone not in zones:
                continue
            name = quote.instance_type.name
            if instance_types is not None and name not in instance_types:
                continue
            key = (name, quote.zone)
            if key in seen:
                duplicate = f"{name} in {quote.zone} already listed on row {seen[key]}"
                raise CatalogError(path, row, "AvailabilityZone", duplicate)
            seen[key] = row
            known = shapes.setdefault(name, (quote.instance_type, row))
            if known[0] != quote.instance_type:
                raise CatalogError(
                    path, row, "InstanceType", f"{name} has a different shape on row {known[1]}"
                )
            reason = _implausible(quote)
            if reason:
                rejected.append(f"{path.name}: row {row}: {name} in {quote.zone}: {reason}")
            else:
                quotes.append(quote)
    return SkyPilotVms(tuple(quotes), tuple(rejected))


def _implausible(quote: VmQuote) -> str | None:
    price = quote.on_demand_per_hour
    if price is None:
        return None
    per_vcpu = price / quote.instance_type.vcpus
    if per_vcpu < MIN_ON_DEMAND_USD_PER_VCPU_HOUR:
        return (
            f"on-demand {price} $/h is {per_vcpu:.6f} $/vCPU-h, below the "
            f"{MIN_ON_DEMAND_USD_PER_VCPU_HOUR} $/vCPU-h sanity floor"
        )
    return None


@dataclass(frozen=True, slots=True)
class _Row:
    """One CSV record with typed accessors that raise errors pointing at its cells."""

    path: Path
    line: int
    record: dict[str, str | None]

    def error(self, column: str, reason: str) -> CatalogError:
        return CatalogError(self.path, self.line, column, reason)

    def text(self, column: str, *, required: bool = False) -> str:
        value = (self.record.get(column) or "").strip()
        if required and not value:
            raise self.error(column, "empty")
        return value

    def number(self, column: str) -> float | None:
        """A finite number >= 0, or ``None`` for an empty cell (e.g. no spot offer)."""
        raw = self.text(column)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.error(column, f"expected a number, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise self.error(column, f"expected a finite number >= 0, got {raw!r}")
        return value

    def positive(self, column: str) -> float:
        """A required finite number > 0 (a size: zero vCPUs or GPUs is not a shape)."""
        value = self.number(column)
        if value is None:
            raise self.error(column, "empty")
        if value == 0:
            raise self.error(column, "expected a number > 0, got 0")
        return value


def _parse_row(path: Path, line: int, record: dict[str, str | None]) -> VmQuote:
    row = _Row(path, line, record)
    vcpus = row.positive("vCPUs")
    memory_gib = row.positive("MemoryGiB")
    gpu_count, gpu_model, gpu_memory_mib = _parse_gpus(row)
    return VmQuote(
        instance_type=InstanceType(
            name=row.text("InstanceType", required=True),
            vcpus=vcpus,
            memory_mib=round(memory_gib * 1024),
            gpu_count=gpu_count,
            gpu_model=gpu_model,
            gpu_memory_mib=gpu_memory_mib,
        ),
        region=row.text("Region", required=True),
        zone=row.text("AvailabilityZone", required=True),
        on_demand_per_hour=row.number("Price"),
        spot_per_hour=row.number("SpotPrice"),
    )


def _parse_gpus(row: _Row) -> tuple[int, str | None, int]:
    """``(gpu_count, gpu_model, per-GPU memory MiB)``; an empty AcceleratorName is a CPU type."""
    model = row.text("AcceleratorName")
    if not model:
        return 0, None, 0
    count = row.positive("AcceleratorCount")
    if count >= 1 and count.is_integer():
        gpu_count = int(count)
    elif count < 1 and (1 / count).is_integer():
        gpu_count, model = 1, f"{model}/{int(1 / count)}"
    else:
        raise row.error("AcceleratorCount", f"expected a whole number or 1/n, got {count}")
    return gpu_count, model, _gpu_memory_mib(row)


def _gpu_memory_mib(row: _Row) -> int:
    info = row.text("GpuInfo")
    if not info.startswith("{"):
        match = _TEXT_GPU_MEMORY.search(info)
        return round(float(match.group(1)) * 1024) if match else 0
    try:
        size = ast.literal_eval(info)["Gpus"][0]["MemoryInfo"]["SizeInMiB"]
    except (ValueError, SyntaxError, TypeError, KeyError, IndexError, MemoryError):
        raise row.error("GpuInfo", "expected a dict with Gpus[0].MemoryInfo.SizeInMiB") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise row.error("GpuInfo", f"SizeInMiB must be a whole number >= 0, got {size!r}")
    return size
