"""Resting controllers (model.Resting): skipping a tick that would change nothing must change
nothing, under the events that make controllers act (spot storms and shortages, failed
boots, failing nodes)."""

import copy
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tidewise.sim.services.policies import POLICIES
from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import (
    CloudSpec,
    ShortageSpec,
    StormSpec,
    load_scenario,
)
from tidewise.sim.services.twin import Twin

EXAMPLES = Path(__file__).parents[3] / "examples"
HOUR = 3600.0


@pytest.fixture(scope="module")
def rough_hours():
    """Eight hours from the Thursday of the launch crowd with a storm, a shortage inside it,
    boots that fail and nodes that go NotReady."""
    scenario, base = load_scenario(EXAMPLES / "spot-storm.yaml")
    workloads = [
        w.model_copy(
            update={
                "trace": w.trace.model_copy(update={"start": w.trace.start + timedelta(days=3)})
            }
        )
        for w in scenario.workloads
    ]
    cloud = CloudSpec(
        vm_boot=scenario.cloud.vm_boot,
        serverless_boot=scenario.cloud.serverless_boot,
        spot_storms=[StormSpec(start=2 * HOUR, end=5 * HOUR, interruption_multiplier=500)],
        spot_shortages=[ShortageSpec(start=3 * HOUR, end=4 * HOUR)],
        boot_failure=0.05,
        node_failures_per_hour=0.05,
    )
    rough = scenario.model_copy(
        update={"horizon": 8 * HOUR, "workloads": workloads, "cloud": cloud}
    )
    return prepare(rough, base)


def _twin(prepared, policy: str) -> Twin:
    controllers = POLICIES[policy][1](prepared.setup)
    return Twin(prepared.setup, controllers, np.random.default_rng(prepared.scenario.seed))


RESTING_POLICIES = ["reactive", "karpenter", "elastic", "tidewise"]
SPOT_POLICIES = {"karpenter", "tidewise"}


@pytest.mark.parametrize("policy", RESTING_POLICIES)
def test_a_replay_with_resting_controllers_is_the_replay_without(rough_hours, policy):
    resting = _twin(rough_hours, policy)
    always = _twin(rough_hours, policy)
    always._rests = [None] * len(always.controllers)  # every tick decides
    fast, slow = resting.run(policy), always.run(policy)

    assert any(r is not None for r in resting._rests)
    assert fast.model_dump(exclude={"wall_s"}) == slow.model_dump(exclude={"wall_s"})
    assert fast.evictions > 0  # the rough hours were rough: nodes failed
    if policy in SPOT_POLICIES:
        assert fast.interruptions > 0 and fast.launch_failures > 0


@pytest.mark.parametrize("policy", RESTING_POLICIES)
def test_a_controller_rests_only_when_deciding_would_return_nothing(rough_hours, policy):
    """At every tenth tick the twin skips (a copy per check is dear), a copy of the
    controller decides on the view: it must find nothing to do."""
    twin = _twin(rough_hours, policy)
    skipped: list[int] = []

    def checked(i, rests):
        def check(now_s: float) -> bool:
            answer = rests(now_s)
            if answer:
                skipped.append(i)
            if answer and len(skipped) % 10 == 0:
                assert list(copy.deepcopy(twin.controllers[i]).decide(twin.view())) == []
            return answer

        return check

    twin._rests = [None if r is None else checked(i, r) for i, r in enumerate(twin._rests)]
    twin.run(policy)
    assert len(skipped) > 100
