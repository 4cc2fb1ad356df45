import pytest

from tidewise.catalog import ReservedPricing, ServerlessPricing, serverless_price_per_hour
from tidewise.model import InstanceType, Offering, PurchaseOption, Resources


def serverless(vcpu_second_usd=1e-5, gib_second_usd=1e-6):
    template = InstanceType("serverless", vcpus=64, memory_mib=256 * 1024)
    return Offering(
        template,
        "z",
        PurchaseOption.SERVERLESS,
        0.0,
        vcpu_second_usd=vcpu_second_usd,
        gib_second_usd=gib_second_usd,
    )


def test_reserved_price_is_discounted_on_demand():
    assert ReservedPricing().price_per_hour(2.176) == pytest.approx(1.3056)
    assert ReservedPricing(discount=0.72).price_per_hour(10.0) == pytest.approx(2.8)
    assert ReservedPricing().term_s == 31_536_000


@pytest.mark.parametrize("kwargs", [{"discount": 1.0}, {"discount": -0.1}, {"term_s": 0}])
def test_reserved_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        ReservedPricing(**kwargs)


def test_default_serverless_is_eci_list_price_in_usd():
    pricing = ServerlessPricing()
    assert pricing.vcpu_second_usd == pytest.approx(0.000049 * 0.138)
    assert pricing.gib_second_usd == pytest.approx(0.00000613 * 0.138)
    # 2 vCPU / 4 GiB for an hour: (2 x 0.000049 + 4 x 0.00000613) CNY/s x 3600 s x 0.138
    assert pricing.vcpu_second_usd * 2 * 3600 + pricing.gib_second_usd * 4 * 3600 == pytest.approx(
        0.06086, abs=1e-5
    )


@pytest.mark.parametrize(
    ("cpu_milli", "memory_mib", "vcpus", "gib"),
    [
        (1000, 1024, 1.0, 1.0),  # already on a step
        (1001, 1025, 1.25, 1.5),  # just over a step rounds up
        (100, 100, 0.25, 0.5),  # below one step
        (0, 0, 0.25, 0.5),  # at least one step each
        (7000, 13 * 1024, 7.0, 13.0),
        (64000, 256 * 1024, 64.0, 256.0),  # the template's limit fits
    ],
)
def test_serverless_rounds_requests_up_to_steps(cpu_milli, memory_mib, vcpus, gib):
    price = serverless_price_per_hour(serverless(), Resources(cpu_milli, memory_mib))
    assert price == pytest.approx((vcpus * 1e-5 + gib * 1e-6) * 3600)


@pytest.mark.parametrize(
    "requests",
    [Resources(64001, 1024), Resources(1000, 256 * 1024 + 1), Resources(1000, 1024, gpu_count=1)],
)
def test_serverless_rejects_what_one_container_cannot_hold(requests):
    with pytest.raises(ValueError, match="does not fit one container"):
        serverless_price_per_hour(serverless(), requests)


def test_serverless_price_needs_a_serverless_offering():
    on_demand = Offering(InstanceType("m.x", 2, 8192), "z", PurchaseOption.ON_DEMAND, 0.1)
    with pytest.raises(ValueError, match=r"m\.x/z/on-demand is not a serverless offering"):
        serverless_price_per_hour(on_demand, Resources(1000, 1024))
