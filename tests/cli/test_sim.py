"""``tidewise sim`` (and the root help) end to end, as a user runs it (a real subprocess)."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.cli.run import tidewise
from tests.factories import tiny_scenario

pytestmark = pytest.mark.e2e

TINY = tiny_scenario("3h", ["fixed-on-demand", "fixed-reserved", "reactive"])


def scenario(tmp_path: Path, **changes) -> Path:
    data = {**TINY, **changes}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_help_lists_the_commands(tmp_path):
    out = tidewise("--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "sim" in out.stdout and "policies" in out.stdout


def test_sim_writes_json_report_and_table(tmp_path):
    path = scenario(tmp_path)
    out = tidewise("sim", str(path), "--json", "out.json", "--report", "out.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["scenario"] == "tiny" and result["horizon_s"] == 10800 and result["seed"] == 3
    assert [r["policy"] for r in result["runs"]] == TINY["policies"]
    for run in result["runs"]:
        assert set(run["cost_by_option_usd"]) == {"on-demand", "spot", "reserved", "serverless"}
        assert run["cost_usd"] == pytest.approx(sum(run["cost_by_option_usd"].values()))
        assert 0 < run["served_fraction"] <= 1
        for key in (
            "violation_minutes",
            "vcpu_hours",
            "gpu_hours",
            "node_launches",
            "interruptions",
        ):
            assert run[key] >= 0
    fixed, reserved, _ = result["runs"]
    assert reserved["cost_usd"] == pytest.approx(fixed["cost_usd"] * 0.6, rel=1e-6)
    assert "reactive" in out.stdout and "fixed-on-demand" in out.stdout
    assert (tmp_path / "out.html").stat().st_size > 100_000


def test_the_json_validates_against_the_published_schema(tmp_path):
    """docs/sim-report.schema.json describes what ``--json`` really writes (it once required a
    field the output leaves out)."""
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/sim-report.schema.json").read_text()
    )
    out = tidewise("sim", str(scenario(tmp_path)), "--quiet", "--json", "out.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    jsonschema.validate(json.loads((tmp_path / "out.json").read_text()), schema)


def test_same_seed_gives_the_same_json(tmp_path):
    path = scenario(tmp_path)
    for name in ("a.json", "b.json"):
        assert tidewise("sim", str(path), "--quiet", "--json", name, cwd=tmp_path).returncode == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_quiet_prints_nothing(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "--quiet", "--json", "r.json", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""
    assert (tmp_path / "r.json").is_file()


def test_quiet_with_nothing_to_write_is_refused_before_the_replay(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "--quiet", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: --quiet: nothing would be")


def test_the_table_fits_80_columns_and_wide_shows_every_column(tmp_path):
    path = str(scenario(tmp_path))
    narrow = tidewise("sim", path, cwd=tmp_path, columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert max(map(len, narrow.stdout.splitlines())) <= 80
    assert "\N{HORIZONTAL ELLIPSIS}" not in narrow.stdout
    assert "fixed-on-demand" in narrow.stdout and "Launches" not in narrow.stdout
    wide = tidewise("sim", path, "-o", "wide", cwd=tmp_path, columns=200)
    assert "Launches" in wide.stdout and "vCPU-h" in wide.stdout


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), cwd=tmp_path)
    assert out.returncode == 0
    assert "reactive: 100%" in out.stderr.splitlines()
    assert "\x1b" not in out.stderr


@pytest.mark.parametrize("how", [("-o", "json"), ("--json", "-")])
def test_json_on_stdout_is_the_report_alone(tmp_path, how):
    out = tidewise("sim", str(scenario(tmp_path)), *how, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [r["policy"] for r in json.loads(out.stdout)["runs"]] == TINY["policies"]
    assert not (tmp_path / "-").exists()


def test_yaml_on_stdout(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "-o", "yaml", "--quiet", cwd=tmp_path)
    assert out.returncode == 0 and yaml.safe_load(out.stdout)["scenario"] == "tiny"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tiny.yaml", "--json: tiny.yaml is this command's input"),
        ("/dev/null", "--json: /dev/null is not a regular file"),
    ],
)
def test_json_never_overwrites_the_input_or_a_device(tmp_path, target, message):
    path = scenario(tmp_path)
    before = path.read_text()
    out = tidewise("sim", str(path), "--json", target, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr
    assert path.read_text() == before


def test_json_and_report_may_not_be_one_file(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "--json", "x", "--report", "x", cwd=tmp_path)
    assert out.returncode == 2 and "--report: x is also --json's" in out.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"horizon": "-3h"}, "horizon"),
        ({"policies": ["magic"]}, "policies[0]: unknown policy 'magic'"),
        (
            {"node_pools": [{"name": "g", "instance_types": ["m6i.huge"]}]},
            "node_pools[0].instance_types[0]: 'm6i.huge' is not in the catalog",
        ),
        (
            {
                "workloads": [
                    {**TINY["workloads"][0], "trace": {"start": "1995-07-28T12:00:00-04:00"}}
                ]
            },
            "workloads[0].trace: window has",
        ),
        (
            {"workloads": [{**TINY["workloads"][0], "requests": {"cpu": "64", "memory": "1Gi"}}]},
            "workloads[0].requests: no instance type",
        ),
        ({"catalog": {"path": "prices.csv"}}, "catalog.path: file"),
        ({"colour": "blue"}, "colour: unknown field"),
    ],
)
def test_bad_scenario_one_line_exit_2_no_traceback(tmp_path, changes, message):
    out = tidewise("sim", str(scenario(tmp_path, **changes)), cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_missing_scenario_file(tmp_path):
    out = tidewise("sim", "nope.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_output_folder_must_exist_before_the_replay(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "--json", "no/such/dir/r.json", cwd=tmp_path)
    assert out.returncode == 2
    assert "--json: folder no/such/dir does not exist" in out.stderr


def test_alibaba_example_replays_on_cn_beijing_prices(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "alicloud-inference.yaml"
    out = tidewise("sim", str(example), "--quiet", "--json", "r.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    fixed, reserved, reactive = runs
    assert fixed["gpu_hours"] > 0 and fixed["cost_by_option_usd"]["on-demand"] > 0
    assert reserved["cost_usd"] == pytest.approx(fixed["cost_usd"] * 0.65, rel=1e-6)
    assert reactive["cost_usd"] < fixed["cost_usd"]
