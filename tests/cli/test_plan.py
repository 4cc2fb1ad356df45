"""``tidewise plan commitments``: the hourly resampling of a demand history, and the command
end to end (the planner itself is tests/capacity/test_commitments.py)."""

import json

import numpy as np
import pytest

from tests.cli.run import tidewise
from tidewise.cli.plan import hourly


def test_hourly_means_keep_unobserved_hours_as_gaps():
    minutes = np.concatenate((np.full(60, 2.0), np.full(60, np.nan), [4.0, np.nan] * 30))
    np.testing.assert_array_equal(hourly(minutes, 60.0), [2.0, np.nan, 4.0])
    np.testing.assert_array_equal(hourly(np.array([1.0, 3.0]), 7200.0), [1, 1, 3, 3])
    with pytest.raises(ValueError, match="--history"):
        hourly(np.array([1.0, 3.0]), 5400.0)


def demand_csv(tmp_path, hours=48):
    # per 15 minutes: 4 vCPUs at night, 10 by day, one hour unobserved
    lines = ["time,vcpus"]
    for quarter in range(hours * 4):
        hour = quarter // 4
        value = "" if hour == 30 else str(10 if 8 <= hour % 24 < 20 else 4)
        lines.append(f"{1_700_000_000 + quarter * 900},{value}")
    path = tmp_path / "demand.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.e2e
def test_plan_commitments_end_to_end(tmp_path):
    out = tidewise(
        "plan",
        "commitments",
        "--history",
        str(demand_csv(tmp_path)),
        "--on-demand-price",
        "0.05",
        "--discount",
        "0.4",
        "--whole",
        "--json",
        "plan.json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    # a day unit is busy 24 of 47 observed hours, 51 %: under the 60 % a unit must be busy to
    # pay at 40 % off, so only the night level is committed
    assert plan["hours"] == 47 and plan["level"] == 4 and plan["unit"] == "vcpu"
    assert plan["committed_price"] == pytest.approx(0.03)
    assert plan["total_cost"] == pytest.approx(47 * 4 * 0.03 + 24 * 6 * 0.05)
    assert plan["no_commitment_cost"] == pytest.approx((24 * 10 + 23 * 4) * 0.05)
    assert plan["utilisation"] == 1.0
    assert plan["coverage"] == pytest.approx(47 * 4 / (24 * 10 + 23 * 4))
    assert "hourly means" in out.stderr and "47 observed hours" in out.stderr
    assert "coverage" in out.stdout and "4 vcpu" in out.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--on-demand-price: give the on-demand USD per vcpu-hour"),
        (["--on-demand-price", "0.05", "--discount", "1.2"], "--discount: a fraction"),
        (["--on-demand-price", "0.05", "--value-col", "cpu"], "no column 'cpu' for --value-col"),
        (["--on-demand-price", "0.05", "--json", "nowhere/p.json"], "--json: folder"),
    ],
)
def test_plan_commitments_bad_options(tmp_path, args, message):
    out = tidewise(
        "plan", "commitments", "--history", str(demand_csv(tmp_path, hours=4)), *args, cwd=tmp_path
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
