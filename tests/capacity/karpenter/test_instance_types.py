import json

import pytest

from tidewise.capacity.karpenter import kwok_instance_types
from tidewise.capacity.karpenter.instance_types import CAPACITY_TYPE, ZONE, cpu_quantity
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import InstanceType, Offering, PurchaseOption


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


def listed_prices(instance_types):
    prices = {}
    for entry in instance_types:
        for offering in entry["offerings"]:
            values = {r["key"]: r["values"] for r in offering["Requirements"]}
            assert offering["Available"] is True
            key = (entry["name"], values[ZONE][0], values[CAPACITY_TYPE][0])
            assert key not in prices, f"{key} listed twice"
            prices[key] = offering["Price"]
    return prices


def test_the_cluster_prices_every_machine_as_the_catalog_does(catalog):
    """Same types, zones, on-demand and spot prices: nothing more, nothing less."""
    written = json.loads(json.dumps(kwok_instance_types(catalog.offerings)))
    bought = (PurchaseOption.ON_DEMAND, PurchaseOption.SPOT)
    expected = {
        (o.instance_type.name, o.zone, o.option.value): o.price_per_hour
        for o in catalog.offerings
        if o.option in bought
    }
    assert listed_prices(written) == expected
    assert {e["name"] for e in written} == set(catalog.instance_types) - {"serverless"}


def test_shapes_and_gpus_are_the_catalog_s(catalog):
    by_name = {e["name"]: e for e in kwok_instance_types(catalog.offerings)}
    for name, entry in by_name.items():
        shape = catalog.instance_types[name]
        resources = entry["resources"]
        assert resources["cpu"] == cpu_quantity(round(shape.vcpus * 1000))
        assert resources["memory"] == f"{shape.memory_mib}Mi"
        gpus = str(shape.gpu_count) if shape.gpu_count else None
        assert resources.get("nvidia.com/gpu") == gpus
        assert entry["architecture"] == "amd64" and entry["operatingSystems"] == ["linux"]
    assert by_name["p4d.24xlarge"]["resources"]["nvidia.com/gpu"] == "8"


def test_commitments_and_serverless_are_not_capacity_karpenter_buys():
    shape = InstanceType("small", vcpus=0.5, memory_mib=1024)
    offerings = [
        Offering(shape, "z1", PurchaseOption.RESERVED, 0.01, term_s=3600.0),
        Offering(shape, "z1", PurchaseOption.SERVERLESS, 0.0),
    ]
    assert kwok_instance_types(offerings) == []
    listed = kwok_instance_types([*offerings, Offering(shape, "z1", PurchaseOption.SPOT, 0.004)])
    assert listed_prices(listed) == {("small", "z1", "spot"): 0.004}
    assert listed[0]["resources"] == {"cpu": "500m", "memory": "1024Mi"}
