import math
from pathlib import Path

import pytest
import yaml

from tidewise.sim.services.runner import prepare
from tidewise.sim.services.scenario import ScenarioError, load_scenario

GOOD = {
    "name": "tiny",
    "horizon": "2h",
    "node_pools": [{"name": "general", "instance_types": ["m6i.xlarge"]}],
    "workloads": [
        {
            "name": "web",
            "trace": {"start": "1995-07-10T00:00:00-04:00", "scale": 10},
            "rps_per_replica": 5,
            "requests": {"cpu": "500m", "memory": "1Gi"},
        }
    ],
    "policies": ["reactive"],
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def broken(**changes):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[leaf] = value
    return data


def test_good_scenario_parses_units(tmp_path):
    scenario, base = load_scenario(write(tmp_path, GOOD))
    assert scenario.horizon == 7200
    assert scenario.workloads[0].requests.cpu == 500
    assert scenario.workloads[0].requests.memory == 1024
    assert base == tmp_path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"workloads__0__replicas": {"min": 2, "mxa": 5}},
            "workloads[0].replicas.mxa: unknown field",
        ),
        (
            {"workloads__0__requests__memory": 2048},
            "workloads[0].requests.memory: '2048' has no unit and Kubernetes would read it as "
            "2048 bytes: write the unit, such as '512Mi' or '2Gi' (got 2048)",
        ),
        (
            {"workloads__0__requests__memory": "2GB"},
            "workloads[0].requests.memory: '2GB': unknown suffix 'GB'",
        ),
        (
            {"workloads__0__rps_per_replica": -3},
            "workloads[0].rps_per_replica: Input should be greater than 0",
        ),
        ({"horizon": "90s"}, "horizon: use a whole number of minutes"),
        ({"horizon": "2 days"}, "horizon: expected a duration with a unit"),
        (
            {"workloads__0__trace__start": "1995-07-10T00:00:00"},
            "workloads[0].trace.start: give a time zone offset",
        ),
        ({"workloads__0__trace__path": "nowhere.csv"}, "workloads[0].trace.path: file"),
        (
            {"workloads__0__replicas": {"min": 5, "max": 2}},
            "workloads[0].replicas: max must be >= min",
        ),
        ({"node_pools": []}, "node_pools: List should have at least 1 item"),
        (
            {"workloads__0__capacity": {"on_demand_base": "120%"}},
            "workloads[0].capacity.on_demand_base: give a count >= 0 (e.g. 2) or a share",
        ),
        (
            {"workloads__0__overload_risk": 0.5},
            "workloads[0].overload_risk: give the chance per minute that the load outgrows "
            "the replicas, above 0 and below 0.5",
        ),
        (
            {"workloads__0__overload_risk": 0},
            "workloads[0].overload_risk: give the chance per minute",
        ),
        (
            {"workloads__0__overload_risk": "1%"},
            "workloads[0].overload_risk: Input should be a valid number",
        ),
        (
            {"workloads__0__capacity": {"max_unavailable": -1}},
            "workloads[0].capacity.max_unavailable: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_fix(tmp_path, changes, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, broken(**changes)))
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_a_workload_s_overload_risk_reaches_its_spec(tmp_path):
    data = broken(workloads__0__overload_risk=0.003)
    scenario, base = load_scenario(write(tmp_path, data))
    assert scenario.workloads[0].overload_risk == 0.003
    assert prepare(scenario, base).setup.workloads[0].overload_risk == 0.003
    scenario, base = load_scenario(write(tmp_path, GOOD))
    assert prepare(scenario, base).setup.workloads[0].overload_risk is None


def test_capacity_rules_read_a_count_or_a_share(tmp_path):
    for given, count, share in ((3, 3, 0.0), ("25%", 0, 0.25), ("12.5 %", 0, 0.125)):
        data = broken(workloads__0__capacity={"on_demand_base": given, "max_unavailable": 1})
        rules = load_scenario(write(tmp_path, data))[0].workloads[0].capacity.rules()
        assert (rules.on_demand_base, rules.on_demand_base_pct) == (count, share)
        assert rules.max_unavailable == 1 and rules.base(8) == max(count, math.ceil(8 * share))


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[3] / "examples").glob("*.yaml")))
def test_every_example_scenario_loads(path):
    scenario, _ = load_scenario(path)
    assert scenario.policies


def test_missing_field_is_named(tmp_path):
    data = dict(GOOD)
    del data["horizon"]
    with pytest.raises(ScenarioError, match="horizon: required field is missing"):
        load_scenario(write(tmp_path, data))


def test_not_yaml_or_not_a_mapping(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")
