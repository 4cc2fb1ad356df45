"""Karpenter's price rules, read back in Python, so tests can ask what an overlay does."""

from typing import Any

from tidewise.capacity.karpenter.instance_types import CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from tidewise.model import Offering


def labels(offering: Offering) -> dict[str, str]:
    return {
        INSTANCE_TYPE: offering.instance_type.name,
        ZONE: offering.zone,
        CAPACITY_TYPE: offering.option.value,
    }


def selects(overlay: dict[str, Any], offering: Offering) -> bool:
    """Whether the overlay's ``In`` requirements all hold for the offering's labels."""
    have = labels(offering)
    return all(have.get(r["key"]) in r["values"] for r in overlay["spec"]["requirements"])


def adjusted_price(offering: Offering, overlays: list[dict[str, Any]]) -> float:
    """The offering's price after the one price overlay that selects it (at most one may:
    equal weights conflict in Karpenter), as ``AdjustedPrice`` in Karpenter's
    ``pkg/cloudprovider/types.go`` computes it for a percentage."""
    chosen = [o for o in overlays if "priceAdjustment" in o["spec"] and selects(o, offering)]
    assert len(chosen) <= 1, f"{offering.key} selected by {[o['metadata']['name'] for o in chosen]}"
    if not chosen:
        return offering.price_per_hour
    change = chosen[0]["spec"]["priceAdjustment"]
    assert change.endswith("%")
    return max(offering.price_per_hour * (1 + float(change[:-1]) / 100), 0.0)
