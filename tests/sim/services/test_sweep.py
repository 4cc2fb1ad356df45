"""Sweeps: the parameter grammar, settings applied to a scenario as written, the front, the
recommendation, the store a re-run resumes from; a grid in local processes, the same on a
local Ray (identical results), NSGA-II reproducible with its seed."""

import copy
import json
from pathlib import Path

import pytest

from tests.factories import tiny_scenario
from tidewise.model.sweep import SweepPoint, SweepRun
from tidewise.sim.services.runner import replay
from tidewise.sim.services.scenario import ScenarioError
from tidewise.sim.services.sweep import (
    AS_WRITTEN,
    LocalProcesses,
    RayTasks,
    Store,
    Sweep,
    apply,
    check_params,
    grid,
    key_of,
    pareto_front,
    parse_param,
    policy_kwargs,
    recommend,
    run_sweep,
)

DATA = tiny_scenario(
    "2h",
    ["reactive"],
    (
        {
            "name": "api",
            "trace": {"start": "1995-07-13T08:00:00-04:00", "scale": 20},
            "rps_per_replica": 10,
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "capacity": {"on_demand_base": 1},
        },
    ),
)
HERE = Path(__file__).parent


def sweep_of(params, seeds=(1, 2), budget=None, policy="reactive") -> Sweep:
    return Sweep(
        apply(DATA, AS_WRITTEN),
        DATA,
        HERE,
        tuple(parse_param(p) for p in params),
        policy,
        tuple(seeds),
        violation_budget=budget,
    )


def test_a_range_includes_both_ends_without_float_noise():
    param = parse_param("workloads.web.target_utilization=0.5:0.9:0.1")
    assert param.path == "workloads.web.target_utilization"
    assert param.values == (0.5, 0.6, 0.7, 0.8, 0.9)
    assert (param.low, param.high, param.step) == (0.5, 0.9, 0.1)
    assert parse_param("seed=1:5:2").values == (1, 3, 5)  # whole numbers stay whole


def test_a_list_is_yaml_scalars():
    param = parse_param("workloads.*.capacity.on_demand_base=25%,2, 0")
    assert param.values == ("25%", 2, 0) and not param.is_range
    start = parse_param("workloads.*.trace.start=1995-07-13T08:00:00-04:00")
    assert start.values == ("1995-07-13T08:00:00-04:00",)  # a time, not a range


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("workloads.web.target_utilization", "give NAME=SPEC"),
        ("=0.5", "give NAME=SPEC"),
        ("a=0.9:0.5:0.1", "LOW <= HIGH"),
        ("a=0:1:0", "STEP above 0"),
        ("a=x:1:0.1", "LOW:HIGH:STEP of numbers"),
        ("a=0:1:0.0001", "at most 1000"),
        ("a=1,1", "listed twice"),
        ("a=[1]", "not a single value"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_parameter(text, says):
    with pytest.raises(ValueError, match=r"^--param") as error:
        parse_param(text)
    assert says in str(error.value)


def test_apply_sets_by_name_by_star_by_index_and_in_a_section_left_at_its_defaults():
    scenario = apply(
        DATA,
        {
            "workloads.web.target_utilization": 0.8,
            "workloads.*.overload_risk": 0.01,
            "node_pools.0.name": "cpu",
            "workloads.web.capacity.on_demand_base": "50%",  # web has no capacity section
            "cloud.boot_failure": 0.1,
        },
    )
    web, api = scenario.workloads
    assert web.target_utilization == 0.8 and api.target_utilization == 0.6
    assert web.overload_risk == api.overload_risk == 0.01
    assert scenario.node_pools[0].name == "cpu"
    assert web.capacity.on_demand_base == "50%" and api.capacity.on_demand_base == 1
    assert scenario.cloud.boot_failure == 0.1
    assert web.requests.memory == 2048  # "2Gi" as written, read again
    assert DATA["workloads"][0].get("capacity") is None  # the data as written is untouched


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"workloads.web.target": 0.5}, "no field 'target' there; known: name, trace,"),
        ({"workloads.db.startup": "1m"}, "no item 'db'; give *, or one of web, api"),
        ({"workload.web.startup": "1m"}, "no field 'workload' there"),
        ({"seed.x": 1}, "no field 'x' there; known: none (it is a value)"),
        (
            {"workloads.web.target_utilization": 1.5},
            "workloads[0].target_utilization: Input should be less than or equal to 1",
        ),
        ({"workloads.*.overload_risk": 0.7}, "above 0 and below 0.5"),
        (  # two values fine alone, clashing together: both named
            {"workloads.web.replicas.min": 9, "workloads.web.replicas.max": 5},
            "replicas.min=9, workloads.web.replicas.max=5: workloads[0].replicas: max must be",
        ),
    ],
)
def test_a_bad_setting_names_the_parameter_and_the_fix(setting, says):
    with pytest.raises(ScenarioError, match=r"^--param ") as error:
        apply(DATA, setting)
    assert says in str(error.value)


def test_check_params_prepares_every_value_before_any_run():
    check_params(
        DATA, HERE, "reactive", [parse_param("node_pools.general.instance_types.0=m6i.2xlarge")]
    )
    with pytest.raises(ScenarioError) as error:
        check_params(
            DATA,
            HERE,
            "reactive",
            [parse_param("node_pools.*.instance_types.0=m6i.xlarge,no.such")],
        )
    assert str(error.value).startswith("--param node_pools.*.instance_types.0=no.such: ")
    assert "'no.such' is not in the catalog" in str(error.value)
    with pytest.raises(ScenarioError, match="given twice"):
        check_params(DATA, HERE, "reactive", [parse_param("seed=1"), parse_param("seed=2")])


def test_the_grid_is_every_combination_first_parameter_slowest():
    params = [parse_param("a=1,2"), parse_param("b=x,y,z")]
    assert grid(params) == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]


def test_the_front_keeps_what_nothing_beats_on_both():
    points = [(1, 5), (2, 3), (3, 3), (4, 1), (2, 6), (1, 5)]
    # (3, 3) is beaten by (2, 3), (2, 6) by (1, 5); equal points beat neither
    assert pareto_front(points) == [True, True, False, True, False, True]


def point(cost, violations, front=True) -> SweepPoint:
    return SweepPoint(
        setting={"x": cost},
        seeds=1,
        cost_usd=cost,
        violation_minutes=violations,
        served_fraction=1.0,
        on_front=front,
    )


def test_the_recommendation_is_the_cheapest_on_the_front_within_the_budget():
    points = [point(10, 0), point(7, 3), point(5, 9), point(4, 2, front=False)]
    assert recommend(points, 3.0)[0] == 1  # (4, 2) is cheaper but not on the front
    assert recommend(points, 100.0)[0] == 2
    chosen, rule = recommend(points[1:3], 1.0)  # none within: the fewest violations
    assert chosen == 0 and rule.startswith("none within 1.0")
    assert recommend([], 1.0) == (None, "no runs")


def a_run(seed: int, setting) -> SweepRun:
    scenario = apply(DATA, setting).model_copy(update={"seed": seed})
    result = replay(scenario, HERE, "reactive").model_copy(update={"timeseries": None})
    return SweepRun(setting=setting, seed=seed, run=result)


def test_the_store_keeps_every_run_and_a_re_run_reads_them_back(tmp_path):
    scenario = apply(DATA, AS_WRITTEN)
    store = Store(tmp_path / "out", scenario, "reactive")
    first, second = a_run(1, {"seed": 1}), a_run(2, {"seed": 1})
    store.add(first)
    store.add(second)
    again = Store(tmp_path / "out", scenario, "reactive")
    assert again.runs == {key_of({"seed": 1}, 1): first, key_of({"seed": 1}, 2): second}
    # a crash mid-line: the cut run is dropped (and replayed), the file made whole again
    runs = tmp_path / "out" / "runs.jsonl"
    text = runs.read_text()
    runs.write_text(text[: len(text) - 40])
    cut = Store(tmp_path / "out", scenario, "reactive")
    assert list(cut.runs) == [key_of({"seed": 1}, 1)]
    cut.add(second)
    assert runs.read_text() == text
    with pytest.raises(ScenarioError, match="another scenario or policy"):
        Store(tmp_path / "out", scenario, "tidewise")


GRID = ["workloads.web.target_utilization=0.5,0.8", "workloads.api.capacity.on_demand_base=0,1"]


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """The grid in two local worker processes, its runs stored as they finished."""
    folder = tmp_path_factory.mktemp("grid") / "out"
    plan = sweep_of(GRID)
    store = Store(folder, plan.scenario, plan.policy)
    seen: list[SweepRun] = []
    report = run_sweep(plan, "grid", 0, LocalProcesses(2), store, seen.append)
    return report, folder, seen


def test_a_grid_runs_every_setting_on_every_seed_in_local_processes(local_grid):
    report, folder, seen = local_grid
    settings = [AS_WRITTEN, *grid([parse_param(p) for p in GRID])]
    assert [p.setting for p in report.points] == settings
    assert [(r.setting, r.seed) for r in report.runs] == [(s, x) for s in settings for x in (1, 2)]
    assert sorted(key_of(r.setting, r.seed) for r in seen) == sorted(
        key_of(r.setting, r.seed) for r in report.runs
    )
    assert len((folder / "runs.jsonl").read_text().splitlines()) == 10
    for p in report.points:
        runs = [r.run for r in report.runs if r.setting == p.setting]
        assert p.cost_usd == pytest.approx(sum(r.cost_usd for r in runs) / 2)
        assert p.violation_minutes == pytest.approx(sum(r.violation_minutes for r in runs) / 2)
    objectives = [(p.cost_usd, p.violation_minutes) for p in report.points]
    assert [p.on_front for p in report.points] == pareto_front(objectives)
    # a lower HPA target keeps more web replicas: dearer (the sweep is not a constant)
    costs = {json.dumps(p.setting): p.cost_usd for p in report.points}
    low = {"workloads.web.target_utilization": 0.5, "workloads.api.capacity.on_demand_base": 0}
    high = {**low, "workloads.web.target_utilization": 0.8}
    assert costs[json.dumps(low)] > costs[json.dumps(high)]
    assert report.violation_budget_minutes == report.points[0].violation_minutes
    pick = report.points[report.recommended]
    assert pick.on_front and pick.violation_minutes <= report.violation_budget_minutes
    assert pick.cost_usd == min(
        p.cost_usd
        for p in report.points
        if p.on_front and p.violation_minutes <= report.violation_budget_minutes
    )


def test_a_re_run_on_the_same_folder_replays_nothing(local_grid):
    report, folder, _ = local_grid
    plan = sweep_of(GRID)
    replayed: list[SweepRun] = []
    again = run_sweep(
        plan,
        "grid",
        0,
        LocalProcesses(2),
        Store(folder, plan.scenario, "reactive"),
        replayed.append,
    )
    assert replayed == [] and again.model_dump() == report.model_dump()


def test_the_same_sweep_on_ray_gives_identical_results(local_grid):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'tidewise[sweep]'")
    report, _, _ = local_grid
    plan = sweep_of(GRID)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_sweep(plan, "grid", 0, RayTasks(None), Store(None, plan.scenario, "reactive"))
    finally:
        ray.shutdown()
    assert on_ray.model_dump() == report.model_dump()


def test_nsga2_is_reproducible_with_its_seed():
    pytest.importorskip("optuna", reason="optuna is not installed: pip install 'tidewise[sweep]'")
    params = [
        "workloads.web.target_utilization=0.4:0.9:0.1",
        "workloads.api.rps_per_replica=5,10,20",
    ]
    plan = sweep_of(params, seeds=(1,), budget=5.0)
    first = run_sweep(plan, "nsga2", 8, LocalProcesses(2), Store(None, plan.scenario, "reactive"))
    second = run_sweep(plan, "nsga2", 8, LocalProcesses(1), Store(None, plan.scenario, "reactive"))
    assert first.model_dump() == second.model_dump()
    assert 2 <= len(first.points) <= 8 and len(first.runs) == len(first.points)
    values = parse_param(params[0]).values
    assert all(p.setting["workloads.web.target_utilization"] in values for p in first.points)
    reseeded = copy.deepcopy(DATA) | {"seed": 4}
    other = Sweep(apply(reseeded, AS_WRITTEN), reseeded, HERE, plan.params, "reactive", (1,), 5.0)
    third = run_sweep(other, "nsga2", 8, LocalProcesses(2), Store(None, other.scenario, "reactive"))
    assert [p.setting for p in third.points] != [p.setting for p in first.points]


def test_policy_paths_set_the_policy_builders_settings():
    kwargs = policy_kwargs(
        "tidewise",
        {
            "policy.break_even_overhead_s": 120,
            "policy.vm_level.overload_risk": 0.002,
            "policy.nodes.unneeded_s": 60,
            "policy.nodes.max_empty_bulk": 3,
            "policy.serverless": False,
            "workloads.web.startup": "1m",  # the scenario's, not the policy's
        },
    )
    assert set(kwargs) == {"break_even_overhead_s", "vm_level", "nodes", "serverless"}
    assert kwargs["break_even_overhead_s"] == 120 and kwargs["serverless"] is False
    assert kwargs["vm_level"].overload_risk == 0.002
    assert (kwargs["nodes"].unneeded_s, kwargs["nodes"].max_empty_bulk) == (60, 3)
    assert kwargs["nodes"].delay_after_add_s == 180.0  # the rest: the policy's defaults
    assert apply(DATA, {"policy.serverless": False}) == apply(DATA, AS_WRITTEN)


@pytest.mark.parametrize(
    ("policy", "setting", "says"),
    [
        ("tidewise", {"policy.headroom": 1}, "has no setting 'headroom'; known: serverless,"),
        ("reactive", {"policy.nodes.unneeded_s": 1}, "reactive policy has no setting 'nodes'"),
        ("tidewise", {"policy.vm_level": 0.1}, "give a field of vm_level: vm_level.overload"),
        ("tidewise", {"policy.serverless.x": True}, "serverless is a value, it has no fields"),
        ("tidewise", {"policy.serverless": 1}, "give true or false"),
        ("tidewise", {"policy.nodes.max_empty_bulk": 2.5}, "give a whole number"),
        ("tidewise", {"policy.nodes.unneeded_s": -1}, "give a number, 0 or more"),
        ("tidewise", {"policy.vm_level.overload_risk": 0.7}, "overload_risk must be in (0, 0.5)"),
    ],
)
def test_a_bad_policy_setting_names_the_parameter(policy, setting, says):
    with pytest.raises(ScenarioError, match=r"^--param policy\.") as error:
        policy_kwargs(policy, setting)
    assert says in str(error.value)


def test_a_policy_setting_changes_the_runs():
    """The burst level sizes web's VMs under ``tidewise`` (serverless can host it): a
    riskier level buys fewer."""
    plan = sweep_of(
        ["policy.burst_level.overload_risk=0.0002,0.2"], seeds=(1,), budget=0.0, policy="tidewise"
    )
    report = run_sweep(plan, "grid", 0, LocalProcesses(1), Store(None, plan.scenario, "tidewise"))
    careful, risky = report.points
    assert all(r.run.policy == "tidewise" for r in report.runs)
    assert careful.cost_usd > risky.cost_usd
