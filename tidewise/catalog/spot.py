"""How often a spot instance is taken back: AWS Spot Advisor bands turned into a hazard rate.

The AWS Spot Instance Advisor (``spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json``)
gives, per region, OS and instance type, a band ``r`` of the *frequency of interruption*: the
share of that type's spot instances that AWS interrupted over the trailing month. The bands
are ``<5%``, ``5-10%``, ``10-15%``, ``15-20%`` and ``>20%`` (``r`` = 0..4).

A simulator needs a rate, not a band. We take one representative monthly fraction ``p`` per
band, the band's midpoint (2.5 %, 7.5 %, 12.5 %, 17.5 %) and 25 % for the open ``>20%`` band
(its lower edge plus half a band width, like the others; the band has no upper bound, so for
its types this is an optimistic estimate). Treating an
interruption as a Poisson event with constant hazard ``λ`` per instance-hour, the chance an
instance survives a 720-hour month is ``exp(-720 λ) = 1 - p``, so::

    λ = -ln(1 - p) / 720   interruptions per instance-hour

which gives about 3.5e-5, 1.08e-4, 1.85e-4, 2.67e-4 and 4.0e-4 for bands 0..4. Types the
advisor does not list (and every type of a provider without an advisor, e.g. Alibaba Cloud)
get a configurable default band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tidewise.catalog.errors import CatalogError

BAND_LABELS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
BAND_MONTHLY_INTERRUPTION_FRACTION = (0.025, 0.075, 0.125, 0.175, 0.25)
"""Representative trailing-month interruption fraction per band (midpoints; 25 % for >20 %)."""

HOURS_PER_MONTH = 720.0
ADVISOR_OS = "Linux"


def interruptions_per_hour(band: int) -> float:
    """Expected interruptions per instance-hour for a Spot Advisor band (0..4)."""
    if band not in range(len(BAND_LABELS)):
        raise ValueError(f"spot band must be 0..{len(BAND_LABELS) - 1}, got {band}")
    return -math.log1p(-BAND_MONTHLY_INTERRUPTION_FRACTION[band]) / HOURS_PER_MONTH


@dataclass(frozen=True, slots=True)
class SpotAdvisor:
    """Interruption bands of Linux spot instances, keyed by ``(region, instance type)``."""

    bands: dict[tuple[str, str], int]

    def band(self, region: str, instance_type: str, default: int) -> int:
        """The advisor's band, or ``default`` for a type or region it does not list."""
        return self.bands.get((region, instance_type), default)


def load_spot_advisor(path: Path) -> SpotAdvisor:
    """Read a Spot Advisor JSON file (the AWS feed, or a subset keeping its structure).

    Only ``ranges`` (checked to be the five bands this module assumes) and the ``Linux``
    entries of ``spot_advisor`` are used.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        reason = f"not JSON: {error.msg} at line {error.lineno}"
        raise CatalogError(path, None, "", reason) from None
    if not isinstance(data, dict):
        raise CatalogError(path, None, "", "expected a JSON object")
    labels = tuple(band.get("label") for band in data.get("ranges", ()) if isinstance(band, dict))
    if labels != BAND_LABELS:
        raise CatalogError(path, None, "ranges", f"expected bands {BAND_LABELS}, got {labels}")
    regions = data.get("spot_advisor")
    if not isinstance(regions, dict):
        raise CatalogError(path, None, "spot_advisor", "expected an object keyed by region")
    bands: dict[tuple[str, str], int] = {}
    for region, by_os in regions.items():
        entries = by_os.get(ADVISOR_OS, {}) if isinstance(by_os, dict) else None
        if not isinstance(entries, dict):
            raise CatalogError(path, None, f"spot_advisor.{region}", "expected an object by OS")
        for name, entry in entries.items():
            band = entry.get("r") if isinstance(entry, dict) else None
            if type(band) is not int or band not in range(len(BAND_LABELS)):
                key = f"spot_advisor.{region}.{ADVISOR_OS}.{name}.r"
                raise CatalogError(path, None, key, f"expected a band 0..4, got {band!r}")
            bands[region, name] = band
    return SpotAdvisor(bands)
