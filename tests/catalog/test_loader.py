import re

import pytest

from tests.catalog.paths import ADVISOR_2024, ALICLOUD_BEIJING, AWS_SUBSET
from tidewise.catalog import (
    BUILTIN_CATALOGS,
    SERVERLESS_TYPE_NAME,
    ReservedPricing,
    ServerlessPricing,
    builtin_catalog_path,
    interruptions_per_hour,
    load_catalog,
    serverless_price_per_hour,
)
from tidewise.model import Billing, InstanceType, PurchaseOption, Resources

SPOT, ON_DEMAND, RESERVED = PurchaseOption.SPOT, PurchaseOption.ON_DEMAND, PurchaseOption.RESERVED


@pytest.fixture(scope="module")
def builtin():
    return load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


def test_builtin_names():
    assert BUILTIN_CATALOGS == ("aws-us-east-1",)
    assert builtin_catalog_path("aws-us-east-1").is_file()
    with pytest.raises(ValueError, match="unknown builtin catalog 'gcp'; known: aws-us-east-1"):
        builtin_catalog_path("gcp")


def test_builtin_catalog_shape(builtin):
    assert builtin.provider == "aws"
    assert len(builtin.instance_types) == 16 + 1  # 9 CPU, 7 GPU types and the serverless template
    # 16 types x 3 zones x (on-demand, reserved, spot) + one serverless offering per zone
    assert len(builtin.offerings) == 16 * 3 * 3 + 3
    assert {o.zone for o in builtin.offerings} == {"use1-az1", "use1-az2", "use1-az4"}
    assert builtin.rejected == ()
    assert all(
        builtin.instance_types[o.instance_type.name] == o.instance_type for o in builtin.offerings
    )


def test_builtin_gpu_offerings_hand_checked(builtin):
    # Karpenter on-demand 0.526; advisor s=64, r=3: spot = 0.526 x 0.36 = 0.18936
    on_demand = builtin.offering("g4dn.xlarge", "use1-az4", ON_DEMAND)
    assert on_demand.instance_type == InstanceType("g4dn.xlarge", 4.0, 16384, 1, "T4", 16384)
    assert on_demand.price_per_hour == 0.526
    assert on_demand.billing == Billing(increment_s=1.0, minimum_s=60.0)
    spot = builtin.offering("g4dn.xlarge", "use1-az4", "spot")
    assert spot.price_per_hour == pytest.approx(0.18936)
    assert spot.interruptions_per_hour == interruptions_per_hour(3)
    assert (spot.notice_s, spot.protection_s) == (120.0, 0.0)
    reserved = builtin.offering("g4dn.xlarge", "use1-az4", RESERVED)
    assert reserved.price_per_hour == pytest.approx(0.526 * 0.6)
    assert reserved.term_s == 365 * 86400
    assert reserved.interruptions_per_hour == 0
    p4d = builtin.instance_types["p4d.24xlarge"]
    assert p4d == InstanceType("p4d.24xlarge", 96.0, 1152 * 1024, 8, "A100", 40960)


def test_aws_subset_uses_builtin_advisor_and_default_band():
    catalog = load_catalog(AWS_SUBSET, provider="aws")
    g4dn = catalog.offering("g4dn.8xlarge", "use1-az1", SPOT)
    assert g4dn.price_per_hour == 0.6461
    assert g4dn.interruptions_per_hour == interruptions_per_hour(4)  # advisor: r=4
    assert catalog.offering("g4dn.8xlarge", "use1-az1", ON_DEMAND).price_per_hour == 2.176
    p5 = catalog.offering("p5.4xlarge", "use1-az2", SPOT)  # not in the advisor
    assert p5.interruptions_per_hour == interruptions_per_hour(2)
    calm = load_catalog(AWS_SUBSET, provider="aws", default_band=0)
    assert calm.offering("p5.4xlarge", "use1-az2", SPOT).interruptions_per_hour == (
        interruptions_per_hour(0)
    )


def test_row_without_spot_price_has_no_spot_offering():
    catalog = load_catalog(AWS_SUBSET, provider="aws")
    with pytest.raises(
        KeyError,
        match=re.escape(
            "p5.4xlarge not offered as spot in 'use1-az1'; offered: use1-az1/on-demand"
        ),
    ):
        catalog.offering("p5.4xlarge", "use1-az1", SPOT)


def test_explicit_advisor_replaces_builtin():
    catalog = load_catalog(AWS_SUBSET, provider="aws", spot_advisor=ADVISOR_2024)
    spot = catalog.offering("g4dn.xlarge", "use1-az1", SPOT)
    assert spot.interruptions_per_hour == interruptions_per_hour(1)  # 2024-02-28: r=1


def test_alicloud_catalog():
    catalog = load_catalog(ALICLOUD_BEIJING, provider="alicloud")
    spot = catalog.offering("ecs.gn6i-c4g1.xlarge", "cn-beijing-h", SPOT)
    assert spot.instance_type == InstanceType("ecs.gn6i-c4g1.xlarge", 4.0, 15360, 1, "T4", 16384)
    assert spot.price_per_hour == 0.5091234
    assert (spot.notice_s, spot.protection_s) == (300.0, 3600.0)
    assert spot.interruptions_per_hour == interruptions_per_hour(2)  # no advisor: default band
    on_demand = catalog.offering("ecs.gn6i-c4g1.xlarge", "cn-beijing-h", ON_DEMAND)
    assert on_demand.price_per_hour == 1.616532
    assert len(catalog.rejected) == 1
    with pytest.raises(KeyError, match=re.escape("no 'ecs.gn5i-c12g1.6xlarge' in the alicloud")):
        catalog.offering("ecs.gn5i-c12g1.6xlarge", "cn-beijing-k", ON_DEMAND)


def test_serverless_offering_per_zone():
    catalog = load_catalog(ALICLOUD_BEIJING, provider="alicloud")
    serverless = [o for o in catalog.offerings if o.option is PurchaseOption.SERVERLESS]
    assert [o.zone for o in serverless] == [f"cn-beijing-{z}" for z in "efghikl"]
    offering = catalog.offering(SERVERLESS_TYPE_NAME, "cn-beijing-h", "serverless")
    assert offering.instance_type == InstanceType("serverless", 64, 256 * 1024)
    assert offering.price_per_hour == 0
    assert catalog.instance_types["serverless"] == offering.instance_type
    # 2 vCPU / 4 GiB: (2 x 0.000049 + 4 x 0.00000613) CNY/s x 0.138 x 3600
    price = serverless_price_per_hour(offering, Resources(2000, 4096))
    assert price == pytest.approx((2 * 0.000049 + 4 * 0.00000613) * 0.138 * 3600)


def test_custom_and_disabled_pricing():
    catalog = load_catalog(
        AWS_SUBSET,
        provider="aws",
        reserved=ReservedPricing(discount=0.5, term_s=3 * 365 * 86400),
        serverless=ServerlessPricing(vcpu_second_usd=1e-5, gib_second_usd=1e-6, max_vcpus=4),
    )
    reserved = catalog.offering("g4dn.8xlarge", "use1-az1", RESERVED)
    assert (reserved.price_per_hour, reserved.term_s) == (1.088, 3 * 365 * 86400)
    serverless = catalog.offering("serverless", "use1-az1", "serverless")
    assert (serverless.vcpu_second_usd, serverless.instance_type.vcpus) == (1e-5, 4)
    bare = load_catalog(AWS_SUBSET, provider="aws", reserved=None, serverless=None)
    assert {o.option for o in bare.offerings} == {ON_DEMAND, SPOT}
    assert "serverless" not in bare.instance_types


def test_filters():
    catalog = load_catalog(
        AWS_SUBSET,
        provider="aws",
        region="us-east-1",
        instance_types=["g5.xlarge"],
        zones=["use1-az1", "use1-az2"],
    )
    assert sorted(catalog.instance_types) == ["g5.xlarge", "serverless"]
    assert {o.zone for o in catalog.offerings} == {"use1-az1", "use1-az2"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instance_types": ["g5.xlarge", "nope.large"]}, "no usable rows for instance types nope"),
        ({"zones": ["use1-az1", "us-east-1a"]}, "no usable rows for zones us-east-1a"),
        ({"region": "eu-west-1"}, "no usable rows"),
        ({"default_band": 5}, "spot band must be"),
        ({"provider": "gcp"}, "unknown provider 'gcp'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_catalog(AWS_SUBSET, **{"provider": "aws", **kwargs})


def test_unknown_type_lists_types(builtin):
    with pytest.raises(
        KeyError, match=re.escape("no 'm5.large' in the aws catalog; types: c6i.2xlarge")
    ):
        builtin.offering("m5.large", "use1-az1", ON_DEMAND)
    with pytest.raises(ValueError):
        builtin.offering("m6i.large", "use1-az1", "preemptible")
