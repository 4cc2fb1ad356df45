"""``tidewise karpenter`` end to end, as a user runs it (a real subprocess)."""

import json

import pytest
import yaml

from tests.cli.run import tidewise
from tests.cli.test_sim import scenario

pytestmark = pytest.mark.e2e


def test_karpenter_render_prints_pools_then_overlays(tmp_path):
    path = scenario(tmp_path)
    node_class = ["--node-class", "karpenter.kwok.sh/KWOKNodeClass/default"]
    out = tidewise("karpenter", "render", "--scenario", str(path), *node_class, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    objects = list(yaml.safe_load_all(out.stdout))
    assert objects[0]["kind"] == "NodePool"
    assert {o["kind"] for o in objects[1:]} == {"NodeOverlay"}
    listed = tidewise("karpenter", "render", "--scenario", str(path), "-o", "json", cwd=tmp_path)
    assert json.loads(listed.stdout)["items"][0]["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "default",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "xml"], "--output: give yaml or json, not 'xml'"),
        (["--node-class", "EC2NodeClass"], "give GROUP/KIND/NAME"),
        (["--scenario", "nope.yaml"], "does not exist"),
    ],
)
def test_karpenter_render_bad_options_one_line_exit_2(tmp_path, args, message):
    out = tidewise("karpenter", "render", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_karpenter_instance_types_are_the_scenario_s_pools(tmp_path):
    out = tidewise(
        "karpenter", "instance-types", "--scenario", str(scenario(tmp_path)), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert [t["name"] for t in json.loads(out.stdout)] == ["c6i.2xlarge", "m6i.xlarge"]
