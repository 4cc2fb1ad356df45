"""Price catalogs: what can be bought, at what price, and how likely a spot instance is lost.

Reads SkyPilot-format ``vms.csv`` files, adds reserved and serverless offerings and a spot
interruption rate, and hands the rest of tidewise immutable :class:`Catalog` objects. See
docs/catalog.md for the assumptions. May import only ``tidewise.model``.
"""

from tidewise.catalog.catalog import Catalog
from tidewise.catalog.errors import CatalogError
from tidewise.catalog.loader import (
    BUILTIN_CATALOGS,
    SERVERLESS_TYPE_NAME,
    builtin_catalog_path,
    load_catalog,
)
from tidewise.catalog.pricing import (
    ReservedPricing,
    ServerlessPricing,
    serverless_parts_per_hour,
    serverless_price_per_hour,
)
from tidewise.catalog.providers import PROVIDERS, ProviderProfile
from tidewise.catalog.spot import SpotAdvisor, interruptions_per_hour, load_spot_advisor

__all__ = [
    "BUILTIN_CATALOGS",
    "PROVIDERS",
    "SERVERLESS_TYPE_NAME",
    "Catalog",
    "CatalogError",
    "ProviderProfile",
    "ReservedPricing",
    "ServerlessPricing",
    "SpotAdvisor",
    "builtin_catalog_path",
    "interruptions_per_hour",
    "load_catalog",
    "load_spot_advisor",
    "serverless_parts_per_hour",
    "serverless_price_per_hour",
]
