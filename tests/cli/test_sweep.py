"""``tidewise sweep`` end to end, as a user runs it (a real subprocess): the table, the JSON,
the report, progress on stderr, the runs kept in ``--out`` and a re-run (or a run after a
kill) resuming from them; a missing extra named in one line."""

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.cli.run import tidewise
from tests.factories import tiny_scenario

pytestmark = pytest.mark.e2e

TINY = tiny_scenario("90m", ["reactive"])
ARGS = (
    *("--policy", "reactive", "--seeds", "1-2", "-j", "2"),
    *("-p", "workloads.web.target_utilization=0.5:0.8:0.3"),
)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One sweep with every output: (folder, the run)."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    out = tidewise(
        *("sweep", "tiny.yaml", *ARGS, "--out", "runs", "--json", "s.json"),
        *("--report", "s.html"),
        cwd=folder,
        columns=100,
    )
    assert out.returncode == 0, out.stderr
    return folder, out


def test_the_table_fits_100_columns_and_marks_the_recommendation(swept):
    _, out = swept
    assert max(map(len, out.stdout.splitlines())) <= 100
    assert "\N{HORIZONTAL ELLIPSIS}" not in out.stdout
    assert "(as written)" in out.stdout and "workloads.web.target_utilization=0.8" in out.stdout
    assert ">>" in out.stdout and "recommended: cheapest on the front" in out.stdout


def test_the_json_holds_every_run_the_front_and_the_pick(swept):
    folder, _ = swept
    report = json.loads((folder / "s.json").read_text())
    settings = [{}, *({"workloads.web.target_utilization": v} for v in (0.5, 0.8))]
    assert [p["setting"] for p in report["points"]] == settings
    assert [(r["setting"], r["seed"]) for r in report["runs"]] == [
        (s, seed) for s in settings for seed in (1, 2)
    ]
    assert all(r["run"]["policy"] == "reactive" for r in report["runs"])
    assert report["params"] == ["workloads.web.target_utilization"] and report["seeds"] == [1, 2]
    # the HPA at 0.5 keeps more replicas than at 0.8: dearer
    assert report["points"][1]["cost_usd"] > report["points"][2]["cost_usd"]
    pick = report["points"][report["recommended"]]
    assert pick["on_front"]
    assert pick["violation_minutes"] <= report["violation_budget_minutes"]
    assert report["violation_budget_minutes"] == report["points"][0]["violation_minutes"]


def test_the_report_draws_the_front_and_marks_the_pick(swept):
    folder, out = swept
    html = (folder / "s.html").read_text()
    assert "Pareto front" in html and "recommended" in html and "Recommended:" in html
    assert "report written to s.html" in out.stderr


def test_progress_is_plain_lines_on_stderr(swept):
    _, out = swept
    assert "runs: 100%" in out.stderr.splitlines() and "\x1b" not in out.stderr


def test_a_re_run_on_the_same_folder_replays_nothing_and_says_the_same(swept):
    folder, first = swept
    kept = (folder / "runs" / "runs.jsonl").read_text()
    assert len(kept.splitlines()) == 6
    again = tidewise("sweep", "tiny.yaml", *ARGS, "--out", "runs", cwd=folder, columns=100)
    assert again.returncode == 0, again.stderr
    assert "runs:" not in again.stderr  # nothing ran
    assert (folder / "runs" / "runs.jsonl").read_text() == kept
    assert again.stdout == first.stdout


def test_a_sweep_killed_mid_way_resumes_to_the_same_result(swept, tmp_path):
    folder, _ = swept
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    command = [sys.executable, "-m", "tidewise.cli", "sweep", "tiny.yaml", *ARGS, "-j", "1"]
    runs = tmp_path / "runs" / "runs.jsonl"
    killed = subprocess.Popen([*command, "--out", "runs", "-q"], cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (runs.is_file() and runs.read_text().count("\n") >= 2):
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = runs.read_text().count("\n")
    assert 2 <= done < 6
    resumed = tidewise(*command[3:], "--out", "runs", "--json", "s.json", cwd=tmp_path, columns=100)
    assert resumed.returncode == 0, resumed.stderr
    assert len(runs.read_text().splitlines()) == 6
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(
        (folder / "s.json").read_text()
    )


def test_nsga2_without_optuna_names_the_extra(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    hidden = tmp_path / "hidden" / "optuna"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'optuna'\", name='optuna')\n"
    )
    out = tidewise(
        *("sweep", "tiny.yaml", "--search", "nsga2", "-p", "seed=1,2"),
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "hidden")},
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "error: `tidewise sweep` needs the sweep extra (no module named 'optuna'): "
        "pip install 'tidewise[sweep]'"
    ]
