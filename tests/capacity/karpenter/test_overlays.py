import pytest

from tests.capacity.karpenter.support import adjusted_price, selects
from tidewise.capacity.karpenter.overlays import (
    Commitment,
    commitment_overlays,
    gpu_share_capacity,
    gpu_share_overlays,
    percent,
    spot_risk_overlays,
)
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import InstanceType, Offering, PurchaseOption


@pytest.fixture(scope="module")
def offerings():
    return load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws").offerings


def test_karpenter_weighs_each_spot_pool_as_the_twin_does(offerings):
    """Adjusted by the rendered overlays, every spot price is the twin's band-weighted one,
    and nothing else changes price."""
    rules = SpotPoolRules()
    overlays = spot_risk_overlays(offerings, rules)
    twin = {o.key: o.price_per_hour for o in rules.for_planning(offerings, [])}
    for offering in offerings:
        assert adjusted_price(offering, overlays) == pytest.approx(twin[offering.key], rel=1e-5)
    assert not any(
        selects(overlay, o)
        for overlay in overlays
        for o in offerings
        if o.option is not PurchaseOption.SPOT
    )


def test_risk_reorders_spot_pools_priced_alike(offerings):
    """m6i.2xlarge spot is 3 % cheaper than c6i.2xlarge but in the >20 % band; c6i.2xlarge is
    in the 5-10 % band, so with risk priced in it wins (the e2e test's premise)."""
    overlays = spot_risk_overlays(offerings, SpotPoolRules())
    spot = {
        o.instance_type.name: o
        for o in offerings
        if o.option is PurchaseOption.SPOT and o.zone == "use1-az1"
    }
    m6i, c6i = spot["m6i.2xlarge"], spot["c6i.2xlarge"]
    assert m6i.price_per_hour < c6i.price_per_hour < 1.05 * m6i.price_per_hour
    assert adjusted_price(c6i, overlays) < adjusted_price(m6i, overlays)


def test_a_type_whose_risk_differs_by_zone_is_priced_per_zone():
    shape = InstanceType("t", vcpus=2, memory_mib=4096)
    calm = Offering(shape, "a", PurchaseOption.SPOT, 1.0, interruptions_per_hour=1e-4)
    wild = Offering(shape, "b", PurchaseOption.SPOT, 1.0, interruptions_per_hour=4e-4)
    safe = Offering(shape, "c", PurchaseOption.SPOT, 1.0)  # no risk: no overlay
    overlays = spot_risk_overlays([calm, wild, safe], SpotPoolRules(band_weight_h=1000))
    assert [o["spec"]["priceAdjustment"] for o in overlays] == ["+10%", "+40%"]
    assert [adjusted_price(o, overlays) for o in (calm, wild, safe)] == pytest.approx(
        [1.1, 1.4, 1.0]
    )


@pytest.mark.parametrize(
    ("fraction", "text"), [(0.079044, "+7.9044%"), (-0.4, "-40%"), (0.291678, "+29.1678%")]
)
def test_percentages_are_written_as_karpenter_reads_them(fraction, text):
    assert percent(fraction) == text


def test_a_commitment_lowers_on_demand_prices_while_coverage_lasts():
    shape = InstanceType("m6i.xlarge", vcpus=4, memory_mib=16384)
    on_demand = Offering(shape, "z", PurchaseOption.ON_DEMAND, 0.192)
    spot = Offering(shape, "z", PurchaseOption.SPOT, 0.0864)
    commitments = [Commitment("m6i.xlarge", 2, 0.4), Commitment("m6i.xlarge", 1, 0.4)]
    for running in (0, 2):
        overlays = commitment_overlays(commitments, {"m6i.xlarge": running})
        assert adjusted_price(on_demand, overlays) == pytest.approx(0.192 * 0.6)
        assert adjusted_price(spot, overlays) == 0.0864
    assert commitment_overlays(commitments, {"m6i.xlarge": 3}) == []


def test_commitments_that_cannot_share_one_price_are_refused():
    with pytest.raises(ValueError, match="different discounts"):
        commitment_overlays([Commitment("a", 1, 0.4), Commitment("a", 1, 0.3)], {})
    with pytest.raises(ValueError, match="count"):
        Commitment("a", 0, 0.4)
    with pytest.raises(ValueError, match="discount"):
        Commitment("a", 1, 1.0)


def test_gpu_types_advertise_their_shares_ahead():
    a100x8 = InstanceType("p4d", 96, 1_179_648, gpu_count=8, gpu_model="A100", gpu_memory_mib=40960)
    assert gpu_share_capacity(a100x8) == {
        "aliyun.com/gpu-count": "8",
        "nvidia.com/gpucores": "800",
        "aliyun.com/gpu-mem": "320",
        "nvidia.com/gpumem": "327680",
    }
    cpu = InstanceType("m6i", 4, 16384)
    overlays = gpu_share_overlays([cpu, a100x8])
    assert [o["metadata"]["name"] for o in overlays] == ["tidewise-gpu-share-p4d"]
    assert "priceAdjustment" not in overlays[0]["spec"]
