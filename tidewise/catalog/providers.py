"""What differs between clouds once prices are known: spot notice, protection and billing.

* ``aws``: a spot instance gets a 2-minute interruption notice and no protection period
  (EC2 User Guide, "Spot Instance interruption notices"); Linux instances are billed per
  second with a 60-second minimum.
* ``alicloud``: a preemptible ECS instance gets a system event 5 minutes before release and,
  by default, a 1-hour protection period during which it is not reclaimed (ECS API
  ``SpotDuration`` = 1; research notes ``autoscaling-cost.md`` section 5). Per-second billing
  is documented; the 60-second minimum is **our assumption**, mirroring AWS, as we found no
  documented minimum. Note that the spot prices in the Alibaba catalog we read were quoted
  with ``spot_duration=0`` (no protection), so they slightly understate the price of a
  protected instance.

Only AWS publishes interruption bands (the Spot Advisor); ``spot_advisor_file`` names the
subset shipped in ``tidewise/data`` that is used when the caller gives none.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model import Billing


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    name: str
    spot_notice_s: float
    spot_protection_s: float
    billing: Billing
    spot_advisor_file: str | None


PROVIDERS: dict[str, ProviderProfile] = {
    "aws": ProviderProfile(
        name="aws",
        spot_notice_s=120.0,
        spot_protection_s=0.0,
        billing=Billing(increment_s=1.0, minimum_s=60.0),
        spot_advisor_file="spot_advisor_us-east-1.json",
    ),
    "alicloud": ProviderProfile(
        name="alicloud",
        spot_notice_s=300.0,
        spot_protection_s=3600.0,
        billing=Billing(increment_s=1.0, minimum_s=60.0),
        spot_advisor_file=None,
    ),
}


def provider_profile(name: str) -> ProviderProfile:
    """The profile of ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"unknown provider {name!r}; known: {known}") from None
