"""Turn a SkyPilot-format catalog into offerings: on-demand, reserved, spot and serverless."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from tidewise.catalog.catalog import Catalog
from tidewise.catalog.pricing import (
    DEFAULT_RESERVED,
    DEFAULT_SERVERLESS,
    ReservedPricing,
    ServerlessPricing,
)
from tidewise.catalog.providers import ProviderProfile, provider_profile
from tidewise.catalog.skypilot import VmQuote, read_skypilot_vms
from tidewise.catalog.spot import SpotAdvisor, interruptions_per_hour, load_spot_advisor
from tidewise.model import InstanceType, Offering, PurchaseOption

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
"""Where the package's own redistributable data lives (see data/README.md)."""

_BUILTIN_FILES = {"aws-us-east-1": "aws_us-east-1_vms.csv"}
BUILTIN_CATALOGS: tuple[str, ...] = tuple(_BUILTIN_FILES)

SERVERLESS_TYPE_NAME = "serverless"


def builtin_catalog_path(name: str) -> Path:
    """The path of a catalog shipped with tidewise (names in :data:`BUILTIN_CATALOGS`)."""
    try:
        return DATA_DIR / _BUILTIN_FILES[name]
    except KeyError:
        known = ", ".join(BUILTIN_CATALOGS)
        raise ValueError(f"unknown builtin catalog {name!r}; known: {known}") from None


def load_catalog(
    path: Path,
    *,
    provider: str,
    reserved: ReservedPricing | None = DEFAULT_RESERVED,
    serverless: ServerlessPricing | None = DEFAULT_SERVERLESS,
    spot_advisor: Path | None = None,
    region: str | None = None,
    instance_types: Collection[str] | None = None,
    zones: Collection[str] | None = None,
    default_band: int = 2,
) -> Catalog:
    """Load ``path`` (SkyPilot ``vms.csv`` format) as the offerings of ``provider``.

    Per (instance type, zone) row: an on-demand offering (if the row has a Price), a reserved
    one at ``reserved``'s discount (unless ``None``), and a spot one (if the row has a
    SpotPrice) carrying the provider's notice, protection and an interruption rate from the
    Spot Advisor band, or ``default_band`` where the advisor has none. ``spot_advisor=None``
    uses the provider's builtin advisor (AWS us-east-1; Alibaba has none). Per zone with at
    least one VM row, one serverless offering priced by ``serverless`` (unless ``None``).
    ``region``, ``instance_types`` and ``zones`` restrict what is loaded; asking for a type or
    zone that leaves no row is a ``ValueError``, not a silently smaller catalog.
    """
    profile = provider_profile(provider)
    interruptions_per_hour(default_band)  # validates the band before any file is read
    vms = read_skypilot_vms(path, region=region, zones=zones, instance_types=instance_types)
    _check_found(path, vms.quotes, region, instance_types, zones)
    advisor = _spot_advisor(profile, spot_advisor)
    offerings: list[Offering] = []
    for quote in vms.quotes:
        offerings.extend(_vm_offerings(quote, profile, reserved, advisor, default_band))
    types = {q.instance_type.name: q.instance_type for q in vms.quotes}
    if serverless is not None:
        template = _serverless_template(serverless)
        types[template.name] = template
        offerings.extend(
            Offering(
                instance_type=template,
                zone=zone,
                option=PurchaseOption.SERVERLESS,
                price_per_hour=0.0,
                vcpu_second_usd=serverless.vcpu_second_usd,
                gib_second_usd=serverless.gib_second_usd,
                billing=profile.billing,
            )
            for zone in sorted({q.zone for q in vms.quotes})
        )
    return Catalog(profile.name, types, tuple(offerings), vms.rejected)


def _check_found(
    path: Path,
    quotes: tuple[VmQuote, ...],
    region: str | None,
    instance_types: Collection[str] | None,
    zones: Collection[str] | None,
) -> None:
    if not quotes:
        types = f" for instance types {', '.join(sorted(instance_types))}" if instance_types else ""
        raise ValueError(f"{path}: no usable rows{types} (region={region}, zones={zones})")
    for what, wanted, found in (
        ("instance types", instance_types, {q.instance_type.name for q in quotes}),
        ("zones", zones, {q.zone for q in quotes}),
    ):
        missing = sorted(set(wanted or ()) - found)
        if missing:
            raise ValueError(f"{path}: no usable rows for {what} {', '.join(missing)}")


def _spot_advisor(profile: ProviderProfile, path: Path | None) -> SpotAdvisor | None:
    if path is None and profile.spot_advisor_file is not None:
        path = DATA_DIR / profile.spot_advisor_file
    return None if path is None else load_spot_advisor(path)


def _vm_offerings(
    quote: VmQuote,
    profile: ProviderProfile,
    reserved: ReservedPricing | None,
    advisor: SpotAdvisor | None,
    default_band: int,
) -> list[Offering]:
    shape, zone, billing = quote.instance_type, quote.zone, profile.billing
    offerings = []
    if quote.on_demand_per_hour is not None:
        offerings.append(
            Offering(
                shape, zone, PurchaseOption.ON_DEMAND, quote.on_demand_per_hour, billing=billing
            )
        )
        if reserved is not None:
            offerings.append(
                Offering(
                    shape,
                    zone,
                    PurchaseOption.RESERVED,
                    reserved.price_per_hour(quote.on_demand_per_hour),
                    term_s=reserved.term_s,
                    billing=billing,
                )
            )
    if quote.spot_per_hour is not None:
        band = default_band
        if advisor is not None:
            band = advisor.band(quote.region, shape.name, default_band)
        offerings.append(
            Offering(
                shape,
                zone,
                PurchaseOption.SPOT,
                quote.spot_per_hour,
                interruptions_per_hour=interruptions_per_hour(band),
                notice_s=profile.spot_notice_s,
                protection_s=profile.spot_protection_s,
                billing=billing,
            )
        )
    return offerings


def _serverless_template(pricing: ServerlessPricing) -> InstanceType:
    """The largest container one serverless offering can run; it has no GPU."""
    return InstanceType(
        name=SERVERLESS_TYPE_NAME, vcpus=pricing.max_vcpus, memory_mib=pricing.max_memory_gib * 1024
    )
