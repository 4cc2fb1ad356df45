import copy
import json
from datetime import datetime

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidewise.model import PurchaseOption
from tidewise.sim.services.runner import attribution, prepare, run
from tidewise.sim.services.scenario import ScenarioError, load_scenario
from tidewise.sim.traces import builtin_trace_path, load_minute_trace

SCENARIO = {
    "name": "r",
    "seed": 1,
    "horizon": "1h",
    "catalog": {
        "zones": ["use1-az1"],
        "reserved": {"discount": 0.3, "term": "30d"},
        "serverless": {"vcpu_second_usd": 2e-5},
    },
    "node_pools": [{"name": "g", "instance_types": ["m6i.xlarge", "g5.xlarge"]}],
    "workloads": [
        {
            "name": "web",
            "trace": {"start": "1995-07-10T12:00:00-04:00", "scale": 30},
            "rps_per_replica": 5,
            "requests": {"cpu": "1", "memory": "2Gi"},
        },
        {
            "name": "gpu",
            "trace": {"start": "1995-07-10T12:00:00-04:00", "scale": 3, "shift": "1h"},
            "rps_per_replica": 1,
            "requests": {"cpu": "1", "memory": "4Gi", "gpu_milli": 500, "gpu_memory": "8Gi"},
        },
    ],
    "policies": ["fixed-reserved", "reactive"],
}


@pytest.fixture
def prepared(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return prepare(*load_scenario(path))


def test_offerings_follow_pools_zones_and_pricing_overrides(prepared):
    offerings = prepared.setup.offerings
    assert {o.zone for o in offerings} == {"use1-az1"}
    assert {o.instance_type.name for o in offerings} == {"m6i.xlarge", "g5.xlarge", "serverless"}
    serverless = [o for o in offerings if o.option is PurchaseOption.SERVERLESS]
    assert [o.vcpu_second_usd for o in serverless] == [2e-5]
    assert serverless[0].gib_second_usd > 0  # the default stays where not overridden
    reserved = {o.instance_type.name: o for o in offerings if o.option is PurchaseOption.RESERVED}
    on_demand = {o.instance_type.name: o for o in offerings if o.option is PurchaseOption.ON_DEMAND}
    assert reserved["m6i.xlarge"].price_per_hour == pytest.approx(
        0.7 * on_demand["m6i.xlarge"].price_per_hour
    )
    assert reserved["m6i.xlarge"].term_s == 30 * 86400


def test_demand_is_the_scaled_and_shifted_trace(prepared):
    demand = prepared.setup.demand_rps
    assert demand.shape == (2, 60)
    # both read the same trace; the second one hour later, a tenth of the scale
    trace = load_minute_trace(builtin_trace_path("nasa-http-1995"))
    start = SCENARIO["workloads"][0]["trace"]["start"]
    first = round((datetime.fromisoformat(start).timestamp() - trace.start_unix_s) / 60)
    assert list(demand[0]) == pytest.approx(list(trace.requests[first : first + 60] * 30 / 60))
    assert list(demand[1]) == pytest.approx(list(trace.requests[first + 60 : first + 120] * 3 / 60))


def _own_traces_scenario(tmp_path, web_trace, gpu_trace):
    scenario = copy.deepcopy(SCENARIO)
    scenario["workloads"][0]["trace"] = web_trace
    scenario["workloads"][1]["trace"] = gpu_trace
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_traces_in_any_csv_and_prometheus_answers_replay(tmp_path):
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    rows = "".join(f"web,{start + 300 * i},{i % 3}\n" for i in range(13))
    (tmp_path / "web.csv").write_text("svc,at,rps\n" + rows)
    samples = [[start + 30 * i, str(0.5 * (i % 4))] for i in range(121)]
    answer = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"values": samples}]},
    }
    (tmp_path / "gpu.json").write_text(json.dumps(answer))
    path = _own_traces_scenario(
        tmp_path,
        {
            "path": "web.csv",
            "start": "2026-01-01T01:00:00+01:00",
            "time_column": "at",
            "value_column": "rps",
            "unit": "per_second",
        },
        {"path": "gpu.json", "start": "2026-01-01T00:00:00Z", "scale": 2},
    )
    demand = prepare(*load_scenario(path)).setup.demand_rps
    # 5-minute rows held over their minutes; requests/s stay requests/s at scale 1
    assert list(demand[0][:15]) == [0.0] * 5 + [1.0] * 5 + [2.0] * 5
    # 30 s Prometheus samples, per second by default: a minute averages two, x scale 2
    assert list(demand[1][:3]) == [2 * 0.25, 2 * 1.25, 2 * 0.25]


def test_a_trace_column_that_is_not_there_names_the_field(tmp_path):
    (tmp_path / "web.csv").write_text("at,rps\n0,1\n60,1\n120,1\n")
    trace = {"path": "web.csv", "start": "1970-01-01T00:00:00Z", "value_column": "qps"}
    path = _own_traces_scenario(tmp_path, trace, trace)
    with pytest.raises(
        ScenarioError,
        match=r"workloads\[0\].trace: \S*web.csv: no column .qps. for value_column; columns: at",
    ):
        prepare(*load_scenario(path))


def test_every_policy_runs_on_the_same_demand(prepared):
    report = run(prepared)
    assert [r.policy for r in report.runs] == ["fixed-reserved", "reactive"]
    fixed, reactive = report.runs
    assert fixed.timeseries.demand_rps == reactive.timeseries.demand_rps
    assert fixed.gpu_hours > 0 and fixed.cost_by_option_usd["reserved"] > 0


def test_attribution_names_builtin_sources_and_paths(prepared):
    text = attribution(prepared.scenario)
    assert text.count("NASA-HTTP") == 1 and "karpenter" in text
    custom = prepared.scenario.model_copy(
        update={"catalog": prepared.scenario.catalog.model_copy(update={"path": "my.csv"})}
    )
    assert "Data: my.csv." in attribution(custom) and "karpenter" not in attribution(custom)


def test_tidewise_rides_out_a_spot_storm_without_losing_a_pod(tmp_path):
    scenario = {
        **SCENARIO,
        "horizon": "4h",
        "catalog": {"zones": ["use1-az1", "use1-az2"]},
        "cloud": {
            "spot_storms": [
                {"start": "1h", "end": "3h", "interruption_multiplier": 10000, "capacity": 0.3}
            ]
        },
        "node_pools": [{"name": "g", "instance_types": ["m6i.xlarge", "c6i.2xlarge"]}],
        "workloads": SCENARIO["workloads"][:1],
        "policies": ["tidewise"],
    }
    path = tmp_path / "storm.yaml"
    path.write_text(yaml.safe_dump(scenario))
    (result,) = run(prepare(*load_scenario(path))).runs
    assert result.interruptions >= 3 and result.evictions >= 3  # the storm did strike
    assert result.pods_lost == 0 and result.served_fraction >= 0.995
    assert result.spot_share > 0.5


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scale=st.floats(5, 120),
    rps=st.floats(2, 30),
    cpu=st.sampled_from(["250m", "1", "1500m"]),
    memory=st.sampled_from(["512Mi", "2Gi", "6Gi"]),
    start_hour=st.integers(0, 23),
)
def test_the_lower_bound_is_below_every_policys_cost(tmp_path, scale, rps, cpu, memory, start_hour):
    scenario = {
        **SCENARIO,
        "horizon": "1h",
        "catalog": {"zones": ["use1-az1", "use1-az2"]},
        "node_pools": [{"name": "g", "instance_types": ["m6i.xlarge", "c6i.2xlarge"]}],
        "workloads": [
            {
                "name": "web",
                "trace": {"start": f"1995-07-11T{start_hour:02d}:00:00-04:00", "scale": scale},
                "rps_per_replica": rps,
                "requests": {"cpu": cpu, "memory": memory},
            }
        ],
        "policies": ["fixed-on-demand", "reactive", "karpenter", "tidewise"],
    }
    path = tmp_path / f"rand-{scale:.3f}-{rps:.3f}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    report = run(prepare(*load_scenario(path)))
    assert report.lower_bound_usd > 0
    assert report.startup_lower_bound_usd is not None
    assert report.startup_lower_bound_usd >= report.lower_bound_usd - 1e-9
    for result in report.runs:
        assert result.cost_usd >= report.lower_bound_usd - 1e-9, result.policy


def test_policies_replayed_in_processes_give_the_sequential_report_exactly(prepared):
    """The policies run in worker processes (``tidewise sim`` does by default), each twin from
    the scenario's seed: the report is the sequential one, to the last digit, and progress
    reaches the caller for every policy."""
    seen: dict[str, float] = {}
    parallel = run(prepared, lambda name, done: seen.__setitem__(name, done), workers=2)
    assert parallel.model_dump() == run(prepared).model_dump()
    assert seen == {"fixed-reserved": 1.0, "reactive": 1.0}
