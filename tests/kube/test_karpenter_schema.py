"""Rendered Karpenter objects against the openAPIV3Schema of the pinned CRDs.

Needs the CRDs of the pinned Karpenter (from the cached build, or from Go's module cache,
which takes seconds and compiles nothing); without Go it is skipped loudly, in CI it fails.
The end-to-end tests also apply the objects to a real API server (CEL rules included).
"""

import jsonschema
import pytest
import yaml

from tests.controlplane import progress, required
from tidewise.capacity.karpenter import NodeClassRef, render
from tidewise.cli.sim import default_scenario_path
from tidewise.sim.services.karpenter import karpenter_policy
from tidewise.sim.services.scenario import load_scenario
from tidewise.testenv.build import BuildError
from tidewise.testenv.karpenter import cached_karpenter, crd_sources

KWOK = NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")


@pytest.fixture(scope="module")
def schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) to the CRD's openAPIV3Schema, for every version it serves."""
    build = cached_karpenter()
    try:
        paths = build.crds if build else crd_sources()
    except BuildError as error:
        message = f"!!! Karpenter's CRDs are not available ({error}): schema checks SKIPPED"
        if required():
            pytest.fail(message)
        progress(message)
        pytest.skip(message)
    found = {}
    for path in paths:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            found[f"{group}/{version['name']}", kind] = version["schema"]["openAPIV3Schema"]
    return found


def validate(schemas, obj):
    jsonschema.Draft7Validator(schemas[obj["apiVersion"], obj["kind"]]).validate(obj)


@pytest.mark.parametrize("node_class", [None, KWOK])
def test_every_rendered_object_matches_its_crd(schemas, node_class):
    scenario, base = load_scenario(default_scenario_path())
    objects = render(karpenter_policy(scenario, base, node_class))
    assert {o["kind"] for o in objects} == {"NodePool", "NodeOverlay"}
    for obj in objects:
        validate(schemas, obj)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("spec", "priceAdjustment"), "+x%"),
        (("spec", "priceAdjustment"), "-100.5%"),
        (("spec", "weight"), 0),
    ],
)
def test_the_schema_check_catches_what_karpenter_would_refuse(schemas, path, bad):
    scenario, base = load_scenario(default_scenario_path())
    overlay = next(
        o for o in render(karpenter_policy(scenario, base)) if o["kind"] == "NodeOverlay"
    )
    overlay[path[0]][path[1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        validate(schemas, overlay)
