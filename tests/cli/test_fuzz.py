"""Every command, every option, bad input: no traceback, exit code 2, one error naming it.

The commands are found the way ``tidewise --help`` finds them (the root group's table and each
group's subcommands, through click's introspection), so a new command or option is fuzzed
without touching this file. Each option is given, alone, each bad value of its kind (a file
that is missing, a folder, empty, binary, a gzip cut short, a CSV cut mid-line, a YAML list;
numbers negative, huge, infinite, not a number; for some free-text options a value of the
wrong shape) while the command's required options get good values, so that the bad one is
what the command meets. The command runs in-process (``CliRunner``) with a time limit: a
bad value that starts work instead of being refused shows up as a timeout.

With ``TIDEWISE_FUZZ_TABLE=PATH`` the verdict of every run is written to PATH as the markdown
table bench/RESULTS.md shows ("Issue 16: faults and bad inputs").
"""

from __future__ import annotations

import enum
import gzip
import os
import re
import resource
import signal
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tests.cli.test_fleet import NOWHERE
from tidewise.cli import app

TIME_LIMIT_S = 20  # per run; a refused value takes well under a second
MEMORY_LIMIT = 8 * 2**30  # address space of the whole test process
# commands not run at all: they build or start a control plane, which no bad value should
# reach but a missed check would (their folder and URL options are fuzzed on down/status)
NOT_RUN = {("testenv", "build"), ("testenv", "up")}

# good values for what each command requires, so the bad option is the one it meets
# ({name} is a file of the fixture ``inputs``)
BASE: dict[tuple[str, ...], list[str]] = {
    ("bench", "gpu-pack"): ["--nodes", "{nodes.csv}", "--pods", "{pods.csv}"],
    ("bench", "autoscale"): ["--trace", "{rates.csv}", "--warmup-days", "0"],
    ("bench", "queue"): ["--jobs", "{jobs.csv}", "--gpus", "8"],
    ("bench", "serve"): [
        *("--trace", "{llm.csv}", "--model", "llama-2-7b", "--gpu", "a100", "--quiet"),
    ],
    ("plan", "commitments"): ["--history", "{rates.csv}", "--on-demand-price", "0.1"],
    # a job the twin can start (a CPU-only one never could, and is refused for that)
    ("job", "submit"): ["j1", "--gpus", "1", "--image", "img", "--state", "{state/jobs.json}"],
    ("job", "list"): ["--state", "{state/jobs.json}"],
    ("job", "get"): ["j1", "--state", "{state/jobs.json}"],
    ("job", "delete"): ["j1", "--state", "{state/jobs.json}"],
    ("job", "top"): ["--state", "{state/jobs.json}"],
    ("job", "logs"): ["j1"],
    ("fleet", "plan"): ["--source", "{kubeconfig.yaml}", "-n", "shop"],
    ("fleet", "sync"): [
        *("--source", "{kubeconfig.yaml}", "--target", "{kubeconfig.yaml}", "-n", "shop"),
        *("--run-file", "{state/run.json}"),
    ],
    ("fleet", "shift"): ["-c", "{traffic.yaml}", "--to", "b", "--ratio", "30"],
    ("fleet", "watch"): ["-c", "{traffic.yaml}", "--duration-s", "0"],
    ("fleet", "status"): ["-c", "{traffic.yaml}"],
    ("fleet", "deck"): ["-c", "{traffic.yaml}"],
    ("device-plugin",): ["--node-name", "node-1"],
    # the cheapest sweep there is, in this process: one run of an hour (no baseline)
    ("sweep",): [
        *("{scenario.yaml}", "--param", "workloads.web.target_utilization=0.6"),
        *("--jobs", "1", "--policy", "reactive", "--violation-budget", "0"),
    ],
    ("capture",): [
        *("{state/captured.yaml}", "--prometheus", "http://127.0.0.1:9"),
        *("--kubeconfig", "{kubeconfig.yaml}"),
    ],
}
# positional arguments that name a file the command writes (an option's is in OUTPUTS)
OUTPUT_ARGUMENTS = {("capture",): {"scenario"}}
# an option that only means something beside another one: given with it
WITH = {"--kubeconfig": {("job",): ["--cluster", "kube"]}}

FILES = ["missing", "folder", "empty", "binary", "truncated.gz", "list.yaml"]
OUTPUTS = {"--json", "--report", "--out", "--dir"}  # files the command writes
OUTPUT_VALUES = ["{no-such-folder/out}", "{folder}"]
INTS = ["-1", "1" + "0" * 30, "x"]
FLOATS = ["-1", "1e400", "nan", "x"]
# free-text options whose values have a shape; the others take any text (a key may name the
# command too, for an option that means something else there)
TEXTS: dict[str | tuple[tuple[str, ...], str], list[str]] = {
    (("job",), "--queue"): [],  # a queue's name, any text
    "--cluster": ["prod"],
    "--seeds": ["9-x", "1-1000000000"],
    "--time-col": ["no-such-column"],
    "--value-col": ["no-such-column"],
    "--forecaster": ["crystal-ball"],
    "--time-zone": ["Mars/Olympus_Mons"],
    "--policy": ["no-such-policy"],
    (("sweep",), "--param"): [
        *("no-equals-sign", "workloads.web.no_such=1", "workloads.web.target_utilization=2"),
        "workloads.web.target_utilization=0.9:0.1:0.1",
        "policy.nodes.unneeded_s=60",  # the base's reactive policy has no settings
        "policy.unneeded_s=60",
    ],
    "--ray": ["not an address"],
    "--cpu": ["lots"],
    "--memory": ["-1Gi"],
    "--namespace": ["Not_A_DNS_Label"],
    "--selector": ["novalue"],
    "--to": ["no-such-cluster"],
    "--socket": ["not-a-path-or-port"],
    "--admin-url": ["ftp://kong"],
    "--instance-types": ["no.such-type"],
    "--queue": ["no-equals-sign"],
    "--mode": ["warp"],
    "--resources": ["example.com/no-such"],
    "--extender": ["not a url"],
    "--health-host": ["256.256.256.256"],
    "--host": ["256.256.256.256"],
    "--prometheus-url": ["ftp://prometheus"],
    "--prometheus-endpoint": ["no-equals-sign"],
    "--identity": [""],
    "--lease-namespace": ["Not_A_DNS_Label"],
    "--node-name": [""],
}
# (command, option, value) a command accepts, and why: the run must exit 0 (not crash)
ACCEPTED: dict[tuple[tuple[str, ...], str, str], str] = {
    (("job", "submit"), "--priority", "-1"): "a lower priority than the default 0",
    (("job", "submit"), "--state", "{missing}"): "no state file yet: a new simulated cluster",
    (("job", "list"), "--state", "{missing}"): "no state file yet: a new simulated cluster",
    (("job", "top"), "--state", "{missing}"): "no state file yet: a new simulated cluster",
    (("sweep",), "--out", "{folder}"): "an empty folder: a new sweep keeps its runs there",
}
# (command, option, value or None for any) refused, rightly, by something other than the
# option, so the one line names that instead: what it says
PATHS_AFTER_NVML = "NVML is not available"  # the kubelet's folders matter once NVML answers
SAYS: dict[tuple[tuple[str, ...], str, str | None], str] = {
    # a selector of one key (kubectl: the label exists) is a good one; the nowhere kubeconfig
    # is what refuses it
    (("capture",), "--selector", "novalue"): "--kubeconfig: the API server is unreachable",
    (("job", "get"), "--state", "{missing}"): "no job 'j1'",  # a new, empty cluster
    (("job", "delete"), "--state", "{missing}"): "no job 'j1'",
    (
        ("fleet", "plan"),
        "--transform",
        "{empty}",
    ): "--source: the API server is unreachable",  # no transforms
    (("fleet", "sync"), "--transform", "{empty}"): "--source: the API server is unreachable",
    (
        ("fleet", "sync"),
        "--run-file",
        "{missing}",
    ): "--source: the API server is unreachable",  # a new run
    (("operator",), "--config", "{empty}"): "--kubeconfig",  # every default
    (("provisioner", "run"), "--config", "{empty}"): "--kubeconfig",
    **{
        (("device-plugin",), option, None): PATHS_AFTER_NVML
        for option in (
            "--kubeconfig",
            "--device-plugin-dir",
            "--pod-resources-socket",
            "--mps-root",
            "--hami-core-library",
        )
    },
}


@dataclass(frozen=True)
class Case:
    command: tuple[str, ...]
    option: str  # the option (or argument, by its metavar) given a bad value
    value: str
    args: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{' '.join(self.command)} {self.option} {self.value}"


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command (path, click command), found through click's introspection."""
    root = typer.main.get_command(app)

    def walk(command: Any, path: tuple[str, ...], parent: Any) -> Iterator[tuple]:
        context = command.context_class(command, info_name=path[-1] if path else "tidewise")
        context.parent = parent
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                yield from walk(command.get_command(context, name), (*path, name), context)
        else:
            yield path, command

    yield from walk(root, (), None)


def kind(param: Any) -> str:
    """What values an option takes: path, output, int, float, text, flag or choice."""
    name = param.opts[0] if param.opts else param.name
    types = _types(param.type_descriptor.annotation)
    if bool in types or getattr(param, "is_flag", False):
        return "flag"
    if Path in types:
        return "output" if name in OUTPUTS else "path"
    if any(isinstance(t, type) and issubclass(t, enum.Enum) for t in types):
        return "choice"
    for python, named in ((int, "int"), (float, "float")):
        if python in types:
            return named
    return "text"


def _types(annotation: Any) -> set[Any]:
    """The plain types in an annotation (``Path | None`` -> Path; ``list[str]`` -> str)."""
    inner = typing.get_args(annotation)
    return {t for a in inner for t in _types(a)} if inner else {annotation}


def bad_values(param: Any, path: tuple[str, ...]) -> list[str]:
    name = param.opts[0] if param.opts else param.name
    return {
        "path": [f"{{{f}}}" for f in FILES] + ["{cut.csv}"],
        "output": OUTPUT_VALUES,
        "int": INTS,
        "float": FLOATS,
        "choice": ["no-such-choice"],
        "text": texts(name, path),
        "flag": [],
    }["output" if name in OUTPUT_ARGUMENTS.get(path, set()) else kind(param)]


def texts(option: str, path: tuple[str, ...]) -> list[str]:
    """The bad values of a free-text option, the command's own meaning of it first."""
    for length in range(len(path), 0, -1):
        if (path[:length], option) in TEXTS:
            return TEXTS[path[:length], option]
    return TEXTS.get(option, [])


def without(args: list[str], option: str) -> list[str]:
    """``args`` less ``option`` and its value (the bad value replaces it)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        else:
            out.append(arg)
    return out


def cases() -> list[Case]:
    found = []
    for path, command in commands():
        if path in NOT_RUN:
            continue
        base = BASE.get(path, [])
        for param in command.params:
            if param.name == "help" or getattr(param, "hidden", False):
                continue
            positional = not param.opts or not param.opts[0].startswith("-")
            option = param.opts[0] if not positional else param.name.upper()
            extra = next((v for k, v in WITH.get(option, {}).items() if path[: len(k)] == k), [])
            for value in bad_values(param, path):
                if positional:
                    rest = base[1:] if base and not base[0].startswith("-") else base
                    args = [*path, value, *rest, *extra]
                else:
                    args = [*path, *without(base, option), *extra, option, value]
                found.append(Case(path, option, value, tuple(args)))
    return found


CASES = cases()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the placeholders name: good ones for BASE, bad ones for the fuzz."""
    folder = tmp_path_factory.mktemp("fuzz")
    rates = "time,requests\n" + "".join(f"{t * 60},{100 + t % 7}\n" for t in range(60))
    good = {
        "nodes.csv": "sn,cpu_milli,memory_mib,gpu,model\nn1,96000,786432,8,V100M32\n",
        "pods.csv": "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,1000,1024,1,500\n",
        "rates.csv": rates,
        "jobs.csv": "# id,arrival,topology,shape,size,duration\n1,4234000,x,y,2,3600\n",
        "kubeconfig.yaml": yaml.safe_dump(NOWHERE),
        "traffic.yaml": yaml.safe_dump(
            {
                "clusters": {
                    name: {
                        "address": f"127.0.0.1:{port}",
                        "health_url": f"http://127.0.0.1:{port}/",
                    }
                    for name, port in (("a", 1), ("b", 2))
                },
                "gateway": {"socket": str(folder / "missing"), "backend": "clusters"},
            }
        ),
        "llm.csv": "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + "".join(f"2023-11-16 18:15:{s:02d}.000000,{200 + s},{20 + s}\n" for s in range(0, 60, 5)),
        "scenario.yaml": yaml.safe_dump(
            {
                "name": "fuzz",
                "horizon": "1h",
                "catalog": {"zones": ["use1-az1"]},
                "node_pools": [{"name": "general", "instance_types": ["m6i.xlarge"]}],
                "workloads": [
                    {
                        "name": "web",
                        "trace": {"start": "1995-07-13T08:00:00-04:00"},
                        "rps_per_replica": 20,
                        "requests": {"cpu": "1", "memory": "2Gi"},
                    }
                ],
                "policies": ["reactive"],
            }
        ),
        "empty": "",
        "list.yaml": "- a\n- b\n",
        "cut.csv": rates[: rates.index("\n", len(rates) // 2) + 3],  # cut in a row's time
    }
    for name, text in good.items():
        (folder / name).write_text(text)
    (folder / "binary").write_bytes(bytes(range(256)) * 4)
    (folder / "truncated.gz").write_bytes(gzip.compress(rates.encode())[:30])
    (folder / "folder").mkdir()
    names = {**{n: str(folder / n) for n in good}, "binary": str(folder / "binary")}
    names |= {n: str(folder / n) for n in ("truncated.gz", "folder")}
    # relative to the run's own folder (``isolated``): what one run writes, no other sees
    names |= {
        n: n
        for n in ("state/jobs.json", "state/run.json", "state/captured.yaml", "no-such-folder/out")
    }
    names["missing"] = "does-not-exist.csv"
    return names


def fill(text: str, inputs: dict[str, str]) -> str:
    return re.sub(r"\{([^{}]+)\}", lambda m: inputs[m[1]], text)


@dataclass
class Verdict:
    exit_code: int | None
    message: str  # the one error statement, or what went wrong
    problem: str | None  # None: as it should be


def error_statement(stderr: str) -> tuple[str, int]:
    """The error a run printed, and how many it printed: tidewise's own line
    (``error: ...``), or click's usage error (its message inside click's box)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    own = [line for line in lines if line.startswith("error:")]
    if own:
        return own[0].removeprefix("error:").strip(), len(own) + (len(lines) - len(own))
    boxed = [line.strip("│ ") for line in lines if line.startswith("│")]
    statements = [b for b in boxed if b]
    return " ".join(statements), 1 if statements else 0


def run(case: Case, inputs: dict[str, str], accepted: bool) -> Verdict:
    args = [fill(a, inputs) for a in case.args]

    def too_long(*_: Any) -> None:
        raise TimeoutError(f"still running after {TIME_LIMIT_S} s: the value was not refused")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TIME_LIMIT_S)
    try:
        result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        where = f"{type(error).__name__}: {error}"
        return Verdict(result.exit_code, where, f"traceback ({where})")
    output = result.stdout + result.stderr
    if "Traceback" in output:
        return Verdict(result.exit_code, output[-300:], "a traceback was printed")
    message, count = error_statement(result.stderr)
    if accepted:
        problem = None if result.exit_code == 0 else f"exit {result.exit_code}, expected 0"
        return Verdict(result.exit_code, message or "(accepted)", problem)
    if result.exit_code != 2:
        return Verdict(result.exit_code, message, f"exit {result.exit_code}, expected 2")
    if count != 1:
        return Verdict(2, message, f"{count} lines of error, expected one: {result.stderr!r}")
    value = fill(case.value, inputs)
    expected = SAYS.get((case.command, case.option, case.value)) or SAYS.get(
        (case.command, case.option, None)
    )
    named = (
        case.option in message
        or (value and value in message)
        or case.option.lower() in message.lower()  # an argument, by its name
        or (expected is not None and expected in message)
    )
    return Verdict(2, message, None if named else "the message names neither option nor value")


@pytest.fixture(scope="module", autouse=True)
def memory_bound() -> Iterator[None]:
    """A bad value that makes a command allocate without end fails this process with a
    MemoryError (a traceback, so a failed case) instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig to fall back on, no state left by another run."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state").mkdir()


VERDICTS: list[tuple[Case, Verdict]] = []


@pytest.fixture(scope="module", autouse=True)
def table(inputs: dict[str, str]) -> Iterator[None]:
    """With TIDEWISE_FUZZ_TABLE, every verdict as a markdown table (bench/RESULTS.md)."""
    yield
    target = os.environ.get("TIDEWISE_FUZZ_TABLE")
    if not target:
        return
    folder = str(Path(inputs["empty"]).parent)
    rows = ["| command | option | bad value | exit | the one line |", "|---|---|---|---|---|"]
    for case, verdict in VERDICTS:
        said = verdict.message.replace(folder, "…").replace("|", "\\|")
        problem = "" if verdict.problem is None else f" **{verdict.problem}**"
        rows.append(
            f"| {' '.join(case.command)} | `{case.option}` | `{case.value}` | "
            f"{verdict.exit_code} | {said}{problem} |"
        )
    Path(target).write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_value_is_one_line_and_exit_2(case: Case, inputs, isolated) -> None:
    accepted = (case.command, case.option, case.value) in ACCEPTED
    verdict = run(case, inputs, accepted)
    VERDICTS.append((case, verdict))
    assert verdict.problem is None, f"{case.id}: {verdict.problem}; said: {verdict.message}"


def test_every_command_is_fuzzed() -> None:
    """The enumeration reaches every command of the root table and each of its options."""
    fuzzed = {c.command for c in CASES}
    every = {path for path, _ in commands()} - NOT_RUN
    runnable_with_options = {p for p, c in commands() if any(x.name != "help" for x in c.params)}
    assert every & runnable_with_options <= fuzzed
    assert {path[0] for path in every} >= {"sim", "bench", "job", "fleet", "operator"}
    assert len(CASES) > 300
    keys = {(c.command, c.option, c.value) for c in CASES}
    assert set(ACCEPTED) <= keys, "an exception names a case that no longer exists"
    assert {k for k in SAYS if k[2] is not None} <= keys
    assert {k[:2] for k in SAYS if k[2] is None} <= {k[:2] for k in keys}


@pytest.mark.parametrize(
    "command", [("provisioner", "run"), ("extender", "serve"), ("queue", "run"), ("operator",)]
)
def test_a_kubernetes_command_without_a_kubeconfig_says_so_in_one_line(command, isolated):
    """Issue 16 found a 100-line traceback for each (at ef16309); the line now says what was
    looked for: the option, a pod's service account, $KUBECONFIG, ~/.kube/config."""
    result = CliRunner().invoke(app, list(command), env={"COLUMNS": "300"})
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    message, count = error_statement(result.stderr)
    assert count == 1 and message.startswith("--kubeconfig: none given"), result.stderr
