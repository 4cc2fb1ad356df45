import pytest

from tidewise.catalog import PROVIDERS
from tidewise.catalog.providers import provider_profile
from tidewise.model import Billing


def test_aws_profile():
    aws = provider_profile("aws")
    assert (aws.spot_notice_s, aws.spot_protection_s) == (120.0, 0.0)
    assert aws.billing == Billing(increment_s=1.0, minimum_s=60.0)
    assert aws.spot_advisor_file == "spot_advisor_us-east-1.json"


def test_alicloud_profile():
    alicloud = provider_profile("alicloud")
    assert (alicloud.spot_notice_s, alicloud.spot_protection_s) == (300.0, 3600.0)
    assert alicloud.billing == Billing(increment_s=1.0, minimum_s=60.0)
    assert alicloud.spot_advisor_file is None


def test_unknown_provider_lists_known_ones():
    assert sorted(PROVIDERS) == ["alicloud", "aws"]
    with pytest.raises(ValueError, match="unknown provider 'gcp'; known: alicloud, aws"):
        provider_profile("gcp")
