"""``tidewise bench gpu-pack | autoscale | queue`` end to end, as a user runs them."""

import json
from pathlib import Path

import pytest

from tests.cli.run import tidewise
from tidewise.sim.jobs.bench import POLICIES

pytestmark = pytest.mark.e2e


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


def test_bench_gpu_pack_with_moves(tmp_path, shared_data):
    folder = shared_data / "alibaba-gpu-v2023"
    nodes = tmp_path / "nodes.csv"
    lines = (folder / "openb_node_list_gpu_node.csv").read_text().splitlines()
    nodes.write_text("\n".join(lines[:41]) + "\n")
    out = tidewise(
        "bench",
        "gpu-pack",
        "--nodes",
        str(nodes),
        "--pods",
        str(folder / "openb_pod_list_default.csv"),
        "--policy",
        "fgd",
        "--seeds",
        "42",
        "--moves",
        "--deschedule",
        "fragOnePod",
        "--move-budget",
        "2%",
        "--max-moves",
        "6",
        "--chains",
        "--json",
        "m.json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    runs = json.loads((tmp_path / "m.json").read_text())["runs"]
    assert [r["policy"] for r in runs] == ["fgd", "fgd+moves@2%x6+chains", "fgd+fragOnePod@2%"]
    for run in runs[1:]:
        assert run["moved_pct_of_placed"] <= 2.0 + 100 / run["placed_pods"]  # ceil
        # no move fills the slivers beside shares above half a GPU (both rounded to 0.01)
        assert run["alloc_pct_retried"] <= run["alloc_bound_pct"] + 0.01
    assert "GPU allocation % with moves" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "magic"], "--policy: unknown magic"),
        (["--seeds", "x"], "--seeds: give a range"),
        (["--tune", "0"], "--tune"),
        (["--deschedule", "magic"], "--deschedule: unknown magic"),
        (["--moves", "--move-budget", "150%"], "--move-budget: a share of the pods placed"),
        (["--moves", "--max-moves", "0"], "--max-moves: give 1 or more"),
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
    assert list(rows) == ["hpa", "cron", "predictive", "combined", "slo", "oracle"]
    assert result["overload_risk"] == 0.005
    for row in rows.values():
        assert {"replica_hours", "served_fraction", "violation_minutes", "scale_events"} <= set(row)
        assert 0 < row["served_fraction"] <= 1 and row["replica_hours"] > 0
    # the oracle is the lower bound at the target: a policy that serves as much pays more
    # (slo sizes to a risk of overload, not to the target: it is not bound by it)
    served = [r for n, r in rows.items() if r["served_fraction"] >= 0.999 and n != "slo"]
    assert len(served) >= 4
    assert all(r["replica_hours"] >= rows["oracle"]["replica_hours"] for r in served)
    assert rows["oracle"]["violation_minutes"] == 0
    assert "combined" in out.stdout and "combined" in (tmp_path / "a.html").read_text()


def test_bench_autoscale_with_serverless_adds_its_pod_hours_and_bill(tmp_path):
    trace = synthetic_trace(tmp_path)
    common = ["--trace", str(trace), "--warmup-days", "1.5", "--forecaster", "recent-level"]
    common += ["--capacity", "10", "--policy", "hpa", "--policy", "oracle", "--quiet"]
    out = tidewise("bench", "autoscale", *common, "--json", "vm.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = tidewise("bench", "autoscale", *common, "--serverless", "--json", "s.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    vm = {r["policy"]: r for r in json.loads((tmp_path / "vm.json").read_text())["policies"]}
    document = json.loads((tmp_path / "s.json").read_text())
    burst = {r["policy"]: r for r in document["policies"]}
    assert document["serverless"]["break_even_s"] > 0
    hpa = burst["hpa"]
    assert hpa["serverless_pod_hours"] > 0  # the HPA's lag is what bursts
    assert hpa["cost_usd"] == pytest.approx(hpa["replica_usd"] + hpa["serverless_usd"], abs=0.02)
    assert hpa["served_fraction"] > vm["hpa"]["served_fraction"]
    assert hpa["violation_minutes"] < vm["hpa"]["violation_minutes"]
    assert "serverless_pod_hours" not in burst["oracle"]  # starts pods instantly: no burst
    assert burst["oracle"] == vm["oracle"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--value-col", "qps"], "no column 'qps' for --value-col"),
        (["--policy", "magic"], "--policy: unknown magic"),
        (["--forecaster", "tea-leaves"], "--forecaster: unknown forecaster"),
        (["--warmup-days", "5"], "lower --warmup-days"),
        (["--time-zone", "Mars/Olympus"], "--time-zone"),
        (["--target-utilization", "1.5"], "--target-utilization"),
        (["--overload-risk", "0.7"], "--overload-risk: a chance per minute in (0, 0.5)"),
        (["--serverless", "--serverless-startup", "-1"], "--serverless-startup: seconds >= 0"),
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


def test_bench_queue_writes_one_entry_per_policy_and_pool(tmp_path):
    rows = "".join(
        f"{i},{600 * i}.0,CLOS,1,{1 + (i % 3 == 0) * 7},{3000 + 500 * i}.0\n" for i in range(30)
    )
    (tmp_path / "jobs.csv").write_text("#job id,arrival,topology,shape,size,duration\n" + rows)
    out = tidewise(
        "bench",
        "queue",
        "--jobs",
        "jobs.csv",
        "--gpus",
        "16",
        "--start",
        "0",
        "--hours",
        "10",
        "--sample",
        "1",
        "--max-gpus",
        "8",
        "--json",
        "q.json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "Queue policies on 16 GPUs" in out.stdout and "elastic" in out.stdout  # a table
    document = json.loads((tmp_path / "q.json").read_text())
    keys = {
        "policy",
        "jobs",
        "avg_jct_s",
        "avg_wait_s",
        "p95_wait_s",
        "gpu_utilization",
        "gpu_hours",
        "cost_usd",
        "starved_jobs",
    }
    for pool in ("fixed", "elastic"):
        assert [r["policy"] for r in document[pool]] == list(POLICIES)
        for run in document[pool]:
            assert set(run) == keys
            assert run["jobs"] == 30


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
