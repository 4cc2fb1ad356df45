"""One output convention for every command that shows a result: ``-o table`` fits an
80-column terminal, ``-o wide`` may be wider, ``-o json`` and ``-o yaml`` parse and say the
same thing. Commands that need a cluster are checked against one in their e2e tests
(tests/kube/test_cost_e2e.py, tests/kube/test_queue_e2e.py, tests/kube/fleet/)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cli.run import tidewise
from tests.cli.test_plan import demand_csv
from tests.cli.test_sim import scenario

pytestmark = pytest.mark.e2e


def jobs(tmp_path: Path) -> list[str]:
    submitted = tidewise("job", "submit", "bert-1", "--gpus", "4", "--image", "i", cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    return []


def shape(document: object) -> object:
    """A document's keys, nested, and the shape of its lists' items."""
    if isinstance(document, dict):
        return {key: shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [shape(item) for item in document]
    return type(document).__name__


def job_trace(tmp_path: Path) -> str:
    rows = "".join(f"{i},{600 * i}.0,CLOS,1,{1 + (i % 3 == 0) * 7},3000.0\n" for i in range(12))
    (tmp_path / "jobs.csv").write_text("#job id,arrival,topology,shape,size,duration\n" + rows)
    return str(tmp_path / "jobs.csv")


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "sim": lambda tmp: ["sim", str(scenario(tmp))],
    "plan commitments": lambda tmp: [
        "plan",
        "commitments",
        "--history",
        str(demand_csv(tmp)),
        "--on-demand-price",
        "0.048",
    ],
    "bench queue": lambda tmp: [
        *("bench", "queue", "--jobs", job_trace(tmp), "--gpus", "16", "--start", "0"),
        *("--hours", "2", "--sample", "1", "--max-gpus", "8", "--policy", "fifo"),
    ],
    "job list": lambda tmp: [*jobs(tmp), "job", "list"],
    "job get": lambda tmp: [*jobs(tmp), "job", "get", "bert-1"],
    "job top": lambda tmp: [*jobs(tmp), "job", "top"],
    "job submit": lambda tmp: ["job", "submit", "gpt-2", "--gpus", "1", "--image", "i"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_format_of_a_command(tmp_path, command):
    documents = []
    for output in ("json", "yaml"):
        folder = tmp_path / output
        folder.mkdir()
        out = tidewise(*COMMANDS[command](folder), "-o", output, cwd=folder, columns=80)
        assert out.returncode == 0, out.stderr
        documents.append(json.loads(out.stdout) if output == "json" else yaml.safe_load(out.stdout))
    # the same document in two encodings (two runs: times, folders and costs so far differ)
    assert shape(documents[0]) == shape(documents[1])

    for output, columns in (("table", 80), ("wide", 200)):
        folder = tmp_path / output
        folder.mkdir()
        out = tidewise(*COMMANDS[command](folder), "-o", output, cwd=folder, columns=columns)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip(), f"{command} -o {output} printed nothing"
        widest = max(len(line) for line in out.stdout.splitlines())
        assert widest <= columns, f"{command} -o {output}: a line of {widest} columns"


def test_an_unknown_format_is_refused_naming_the_option(tmp_path):
    out = tidewise("job", "list", "-o", "xml", cwd=tmp_path)
    assert out.returncode == 2 and "'-o'" in out.stderr and "xml" in out.stderr
