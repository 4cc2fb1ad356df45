"""The ``tidewise`` command end to end, as a user runs it (a real subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

TINY = {
    "name": "tiny",
    "seed": 3,
    "horizon": "3h",
    "catalog": {"zones": ["use1-az1"]},
    "node_pools": [{"name": "general", "instance_types": ["m6i.xlarge", "c6i.2xlarge"]}],
    "workloads": [
        {
            "name": "web",
            "trace": {"start": "1995-07-13T08:00:00-04:00", "scale": 60},
            "rps_per_replica": 20,
            "requests": {"cpu": "1", "memory": "2Gi"},
            "startup": "20s",
            "replicas": {"min": 1, "max": 50},
        }
    ],
    "policies": ["fixed-on-demand", "fixed-reserved", "reactive"],
}


def tidewise(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidewise.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )


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


def test_same_seed_gives_the_same_json(tmp_path):
    path = scenario(tmp_path)
    for name in ("a.json", "b.json"):
        assert tidewise("sim", str(path), "--quiet", "--json", name, cwd=tmp_path).returncode == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_quiet_prints_nothing(tmp_path):
    out = tidewise("sim", str(scenario(tmp_path)), "--quiet", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


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
    example = Path(__file__).resolve().parents[1] / "examples" / "alicloud-inference.yaml"
    out = tidewise("sim", str(example), "--quiet", "--json", "r.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    fixed, reserved, reactive = runs
    assert fixed["gpu_hours"] > 0 and fixed["cost_by_option_usd"]["on-demand"] > 0
    assert reserved["cost_usd"] == pytest.approx(fixed["cost_usd"] * 0.65, rel=1e-6)
    assert reactive["cost_usd"] < fixed["cost_usd"]


def test_bench_gpu_pack_end_to_end(tmp_path, shared_data):
    folder = shared_data / "alibaba-gpu-v2023"
    nodes = tmp_path / "nodes.csv"
    lines = (folder / "openb_node_list_gpu_node.csv").read_text().splitlines()
    nodes.write_text("\n".join(lines[:41]) + "\n")  # 40 nodes keep the test quick
    out = tidewise(
        "bench",
        "gpu-pack",
        "--nodes",
        str(nodes),
        "--pods",
        str(folder / "openb_pod_list_default.csv"),
        "--policy",
        "best-fit",
        "--policy",
        "fgd",
        "--seeds",
        "42-43",
        "--json",
        "g.json",
        "--report",
        "g.html",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "g.json").read_text())
    assert [r["policy"] for r in result["runs"]] == ["best-fit", "fgd"]
    for run in result["runs"]:
        assert run["workload"] == "openb_pod_list_default" and run["seeds"] == [42, 43]
        top = max(run["alloc_pct_at"], key=int)  # a 40-node cluster may stop short of 130
        assert int(top) >= 120 and 0 < run["alloc_pct_at"][top] <= 100
        assert set(run["alloc_pct_at_by_seed"]) == {"42", "43"}
        assert run["pods_per_second"] > 0
    assert "fgd" in (tmp_path / "g.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "magic"], "--policy: unknown magic"),
        (["--seeds", "x"], "--seeds: give a range"),
        (["--tune", "0"], "--tune"),
    ],
)
def test_bench_gpu_pack_bad_options(tmp_path, shared_data, args, message):
    folder = shared_data / "alibaba-gpu-v2023"
    out = tidewise(
        "bench",
        "gpu-pack",
        "--nodes",
        str(folder / "openb_node_list_gpu_node.csv"),
        "--pods",
        str(folder / "openb_pod_list_default.csv"),
        *args,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def synthetic_trace(tmp_path: Path, days: int = 3) -> Path:
    """A daily cycle of request counts per minute, in ISO time, with a one-hour gap."""
    path = tmp_path / "rate.csv"
    lines = ["time,rps,status"]
    for minute in range(days * 1440):
        hour = (minute // 60) % 24
        stamp = f"2026-11-{1 + minute // 1440:02d}T{hour:02d}:{minute % 60:02d}:00Z"
        level = 40 + 30 * (8 <= hour < 20)
        status = "missing" if days * 1440 - 120 <= minute < days * 1440 - 60 else "ok"
        lines.append(f"{stamp},{level + (minute * 7919) % 9},{status}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bench_autoscale_end_to_end(tmp_path):
    trace = synthetic_trace(tmp_path)
    out = tidewise(
        "bench",
        "autoscale",
        "--trace",
        str(trace),
        "--warmup-days",
        "1.5",
        "--forecaster",
        "recent-level",
        "--capacity",
        "10",
        "--json",
        "a.json",
        "--report",
        "a.html",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "a.json").read_text())
    assert result["value_column"] == "rps" and result["warmup_s"] == 1.5 * 86400
    rows = {r["policy"]: r for r in result["policies"]}
    assert list(rows) == ["hpa", "cron", "predictive", "combined", "oracle"]
    for row in rows.values():
        assert {"replica_hours", "served_fraction", "violation_minutes", "scale_events"} <= set(row)
        assert 0 < row["served_fraction"] <= 1 and row["replica_hours"] > 0
    # the oracle is the lower bound at the target: a policy that serves as much pays more
    served = [r for r in rows.values() if r["served_fraction"] >= 0.999]
    assert len(served) >= 4
    assert all(r["replica_hours"] >= rows["oracle"]["replica_hours"] for r in served)
    assert rows["oracle"]["violation_minutes"] == 0
    assert "combined" in out.stdout and "combined" in (tmp_path / "a.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--value-col", "qps"], "no column 'qps' for --value-col"),
        (["--policy", "magic"], "--policy: unknown magic"),
        (["--forecaster", "tea-leaves"], "--forecaster: unknown forecaster"),
        (["--warmup-days", "5"], "lower --warmup-days"),
        (["--time-zone", "Mars/Olympus"], "--time-zone"),
        (["--target-utilization", "1.5"], "--target-utilization"),
    ],
)
def test_bench_autoscale_bad_options(tmp_path, args, message):
    out = tidewise(
        "bench",
        "autoscale",
        "--trace",
        str(synthetic_trace(tmp_path, days=2)),
        "--quiet",
        *args,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("option", ["--cron-period", "--elastic-period"])
def test_operator_refuses_a_period_that_is_not_positive(tmp_path, option):
    out = tidewise("operator", option, "0", cwd=tmp_path)
    assert out.returncode != 0
    assert f"{option}: a number of seconds > 0" in out.stderr


def llm_trace(tmp_path: Path, minutes: int = 5, per_minute: int = 60) -> Path:
    """Azure-format LLM requests: steady arrivals, prompts and answers of varied length."""
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for k in range(minutes * per_minute):
        second = k * 60 / per_minute
        stamp = f"2023-11-16 18:{15 + int(second // 60):02d}:{second % 60:09.6f}"
        lines.append(f"{stamp},{200 + (k * 7919) % 1800},{20 + (k * 104729) % 300}")
    path = tmp_path / "llm.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bench_serve_end_to_end(tmp_path):
    trace = llm_trace(tmp_path)
    out = tidewise(
        "bench", "serve", "--trace", str(trace), "--model", "llama-2-7b", "--gpu", "a100",
        "--knob", "kpa=20", "--json", "s.json", "--report", "s.html", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for name in ("hpa-gpu", "kpa", "keda-queue", "tidewise"):
        assert name in out.stdout
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["benchmark"] == "serve" and doc["requests"] == 300
    assert doc["profile"]["name"] == "llama-2-7b@1xa100"
    rows = {r["policy"]: r for r in doc["policies"]}
    assert list(rows) == ["hpa-gpu", "kpa", "keda-queue", "tidewise"]
    assert rows["kpa"]["knob"] == 20 and rows["hpa-gpu"]["floor"] == 1
    for row in rows.values():
        assert row["served"] == 300 and row["gpu_hours"] > 0
        assert 0 <= row["slo_attainment"] <= 1 and row["ttft_p50_s"] <= row["ttft_p99_s"]
    page = (tmp_path / "s.html").read_text()
    assert "tidewise TTFT p95" in page and "keda-queue" in page


def test_bench_serve_shares_a_gpu_and_bills_the_share(tmp_path):
    trace = llm_trace(tmp_path, minutes=2, per_minute=6)
    out = tidewise(
        "bench", "serve", "--trace", str(trace), "--model", "llama-2-7b", "--gpu", "a100",
        "--share", "0.25", "--policies", "tidewise", "--floor", "tidewise=1", "--quiet",
        "--json", "q.json", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "q.json").read_text())
    assert doc["profile"]["gpu_fraction"] == 0.25
    (row,) = doc["policies"]
    duration_h = doc["duration_s"] / 3600
    # at least the one replica the floor keeps, billed a quarter GPU
    assert row["gpu_hours"] >= 0.25 * duration_h - 1e-3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gpt-9", "--gpu", "a100"], "--model/--gpu: no calibration for gpt-9@a100"),
        (["--policies", "magic"], "--policies: unknown magic"),
        (["--share", "0.25", "--model", "llama-2-70b"], "--share: llama-2-70b needs 4 GPUs"),
        (["--knob", "kpa"], "--knob: 'kpa' is not POLICY=VALUE"),
        (["--attainment", "2"], "--attainment"),
    ],
)
def test_bench_serve_bad_options(tmp_path, args, message):
    base = ["--model", "llama-2-7b", "--gpu", "a100"]
    out = tidewise(
        "bench", "serve", "--trace", str(llm_trace(tmp_path, minutes=1)), *base, *args, "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
