"""The default week's figures, pinned: a speed-up of the twin must not move them (issue 22).

The values are those of a run at the revision before the speed work (3e4819e), one policy at
a time; costs to the cent, violation minutes and counts exactly, served fractions to 1e-9
(a changed summation order may move the last bits of a float, never a minute or a cent).
A policy change moves its row on purpose, in the same commit: `tidewise`'s row is that of
issue 21's last change (the forecast level refreshed each minute, the GPU tier at 0.3 %).
The week takes a minute or two on two cores, so its policies run in two processes.
"""

import pytest

from tidewise.cli.sim import default_scenario_path
from tidewise.sim.services.runner import prepare, run
from tidewise.sim.services.scenario import load_scenario

# policy: cost $, served fraction, violation minutes, node launches, interruptions, evictions
PINNED = {
    "fixed-on-demand": (8559.67, 1.0, 0, 71, 0, 0),
    "fixed-reserved": (5135.80, 1.0, 0, 71, 0, 0),
    "reactive": (1812.56, 0.9989220827437562, 330, 1189, 0, 2),
    "karpenter": (847.12, 0.9978953002547394, 400, 2466, 2, 6),
    "elastic": (1823.12, 0.9994143215412784, 218, 1082, 0, 0),
    "tidewise": (794.54, 0.9992744684451752, 193, 2419, 0, 564),
}


@pytest.fixture(scope="module")
def report():
    prepared = prepare(*load_scenario(default_scenario_path()))
    return run(prepared, workers=2)


def test_the_default_week_runs_every_pinned_policy(report):
    assert [r.policy for r in report.runs] == list(PINNED)


@pytest.mark.parametrize("policy", list(PINNED))
def test_each_policy_replays_the_pinned_week(report, policy):
    result = next(r for r in report.runs if r.policy == policy)
    cost, served, violations, launches, interruptions, evictions = PINNED[policy]
    assert round(result.cost_usd, 2) == cost
    assert result.served_fraction == pytest.approx(served, abs=1e-9)
    assert result.violation_minutes == violations
    assert result.node_launches == launches
    assert result.interruptions == interruptions
    assert result.evictions == evictions
