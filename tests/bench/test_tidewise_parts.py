"""bench/tidewise_parts.py --where: the probe books every node's price and changes nothing."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.sim.services.test_runner import SCENARIO as RUNNER_SCENARIO
from tidewise.sim.services.policies import POLICIES
from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import load_scenario
from tidewise.sim.services.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = {**RUNNER_SCENARIO, "horizon": "3h", "policies": ["karpenter", "tidewise"]}
"""Web and half-GPU inference on two node types, as the runner's tests replay them."""


def parts_module():
    spec = importlib.util.spec_from_file_location(
        "tidewise_parts", ROOT / "bench/tidewise_parts.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("tidewise_parts", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("policy", ["karpenter", "tidewise"])
def test_the_probe_books_the_bill_by_tier_and_changes_nothing(tmp_path, policy):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    scenario, base = load_scenario(path)
    setup = prepare(scenario, base).setup
    build = POLICIES[policy][1]
    plain = Twin(setup, build(setup), np.random.default_rng(scenario.seed)).run(policy)
    probe = parts_module().Spend(setup)
    probed = Twin(setup, [*build(setup), probe], np.random.default_rng(scenario.seed)).run(policy)
    assert probed.cost_usd == plain.cost_usd
    assert probed.violation_minutes == plain.violation_minutes
    summary = probe.summary()
    # the bill less per-second rounding and minimum charges, sampled every 10 s
    assert summary["modelled_usd"] == pytest.approx(plain.cost_usd, rel=0.03)
    gpu = summary["by_tier"]["gpu"]
    assert gpu["requested"] > 0 and gpu["total"] == pytest.approx(
        sum(v for k, v in gpu.items() if k != "total"), abs=0.05
    )
    needs = summary["replica_hours"]["gpu"]
    assert needs["paid"] >= needs["load_needs"] > 0
