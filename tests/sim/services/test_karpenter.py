"""A scenario rendered for Karpenter: what the twin runs on, nothing else."""

from pathlib import Path

import pytest
import yaml

from tidewise.capacity.karpenter import NodeClassRef, render
from tidewise.capacity.reserved_base import floor_launches
from tidewise.cli.sim import default_scenario_path
from tidewise.model import PurchaseOption
from tidewise.sim.services.karpenter import karpenter_policy
from tidewise.sim.services.runner import capacity_inputs
from tidewise.sim.services.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def week():
    return load_scenario(default_scenario_path())


def test_the_default_week_renders_its_pools_and_prices(week):
    scenario, base = week
    objects = render(karpenter_policy(scenario, base))
    pools = [o["metadata"]["name"] for o in objects if o["kind"] == "NodePool"]
    assert pools == [p.name for p in scenario.node_pools]
    pooled = {t for p in scenario.node_pools for t in p.instance_types}
    for overlay in (o for o in objects if o["kind"] == "NodeOverlay"):
        for requirement in overlay["spec"]["requirements"]:
            if requirement["key"] == "node.kubernetes.io/instance-type":
                assert set(requirement["values"]) <= pooled
    assert yaml.safe_load_all(yaml.safe_dump_all(objects))  # plain data, YAML-safe
    assert render(karpenter_policy(scenario, base)) == objects  # same policy, same objects


def test_commitments_are_the_reserved_floor_the_twin_buys(week):
    """web's on-demand base of 2 at min replicas: the twin reserves nodes for it; the same
    types get the reserved discount on Karpenter's on-demand prices."""
    scenario, base = week
    _, offerings, workloads = capacity_inputs(scenario, base)
    reserved = floor_launches(workloads, offerings)
    assert reserved
    assert all(launch.offering.option is PurchaseOption.RESERVED for launch in reserved)
    objects = render(karpenter_policy(scenario, base))
    commitments = {
        o["metadata"]["name"]: o["spec"]["priceAdjustment"]
        for o in objects
        if o["metadata"]["name"].startswith("tidewise-commitment-")
    }
    discount = f"-{scenario.catalog.reserved.discount * 100:g}%"
    names = {launch.offering.instance_type.name for launch in reserved}
    assert commitments == {f"tidewise-commitment-{n}": discount for n in names}


def test_a_provider_without_a_known_node_class_must_name_one():
    scenario, base = load_scenario(ROOT / "examples/alicloud-inference.yaml")
    with pytest.raises(ScenarioError, match="--node-class"):
        karpenter_policy(scenario, base)


def test_the_node_class_given_is_the_one_every_pool_uses(week):
    scenario, base = week
    kwok = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
    for pool in render(karpenter_policy(scenario, base, kwok)):
        if pool["kind"] == "NodePool":
            assert pool["spec"]["template"]["spec"]["nodeClassRef"]["kind"] == "KWOKNodeClass"
