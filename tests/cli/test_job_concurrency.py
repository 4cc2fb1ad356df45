"""``tidewise job`` against the twin from many processes at once: every submit is kept.

Real processes (forked, each running the command as the CLI does), started together on one
state file: before the lock, 10 parallel submits kept about 6 jobs and a ``job list`` running
beside them wrote its stale copy back over a submit.
"""

import json
import multiprocessing

from typer.testing import CliRunner

from tidewise.cli import app

SUBMITS = 10


def run(args: list[str], start) -> None:
    start.wait()
    result = CliRunner().invoke(app, args)
    raise SystemExit(result.exit_code)


def test_parallel_submits_and_lists_lose_nothing(tmp_path):
    state = str(tmp_path / "jobs.json")
    fork = multiprocessing.get_context("fork")
    start = fork.Event()
    commands = [
        ["job", "submit", f"job-{i}", "--gpus", "1", "--image", "img", "--state", state]
        for i in range(SUBMITS)
    ]
    commands += [["job", "list", "--state", state, "-o", "json"]] * 4
    processes = [fork.Process(target=run, args=(c, start)) for c in commands]
    for p in processes:
        p.start()
    start.set()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * len(processes)
    listed = CliRunner().invoke(app, ["job", "list", "--state", state, "-o", "json"])
    names = sorted(row["name"] for row in json.loads(listed.stdout))
    assert names == sorted(f"job-{i}" for i in range(SUBMITS))
