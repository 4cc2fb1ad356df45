"""The root command: every command listed with its own help without importing it, heavy
libraries imported only by the commands that use them, a missing extra named in one line."""

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidewise.cli import COMMANDS, app
from tidewise.cli.errors import EXTRA_OF_MODULE

ROOT = Path(__file__).resolve().parents[2]
TWIN = {"numpy", "scipy", "statsmodels", "plotly", "pandas"}
KUBE = {"lightkube", "httpx2", "kopf", "aiohttp", "prometheus_client", "cryptography"}

# a fresh interpreter runs the command in-process, then reports the top-level modules loaded
PROBE = """
import json, sys
from tidewise.cli import app
try:
    app(sys.argv[1:], prog_name="tidewise")
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def loaded(*args: str, cwd: Path) -> tuple[int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [("--help",), (), ("job", "--help"), ("job", "list", "--help"), ("policies", "--help")],
)
def test_help_imports_neither_the_twin_nor_the_kube_clients(tmp_path, args):
    code, modules = loaded(*args, cwd=tmp_path)
    assert code in (0, 2)  # no arguments: help, exit 2 (click's no_args_is_help)
    assert not modules & (TWIN | KUBE), sorted(modules & (TWIN | KUBE))


def test_job_list_on_the_twin_needs_no_plotly_and_no_kube_client(tmp_path):
    code, modules = loaded("job", "list", "--state", str(tmp_path / "s.json"), cwd=tmp_path)
    assert code == 0
    # the twin's queue policy computes with numpy; the charts and the clients stay out
    assert not modules & ({"plotly", "scipy", "statsmodels"} | KUBE)


def test_every_command_is_listed_with_its_own_help():
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert listed.exit_code == 0
    for name, lazy in COMMANDS.items():
        command = lazy.load()
        assert command.help == lazy.help, name
        assert f" {name} " in listed.output
        first_line = lazy.help.splitlines()[0]
        assert first_line in listed.output


def test_a_typo_is_answered_with_the_command_meant():
    out = CliRunner().invoke(app, ["simm"])
    assert out.exit_code == 2
    assert "No such command 'simm'. Did you mean 'sim'?" in out.output


# a fresh interpreter in which a kube module cannot be imported, as without the kube extra
WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Absent())
from tidewise.cli import app
app(sys.argv[2:], prog_name="tidewise")
"""


@pytest.mark.parametrize(
    ("missing", "args"),
    [
        ("lightkube", ("extender", "serve")),
        ("kopf", ("operator",)),
        ("lightkube", ("job", "list", "--cluster", "kube")),
        ("lightkube", ("fleet", "plan", "--source", "k", "-n", "x")),
        ("aiohttp", ("extender", "serve")),
    ],
)
def test_a_command_without_its_extra_says_what_to_install(tmp_path, missing, args):
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT, missing, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"`tidewise {args[0]}` needs the kube extra" in out.stderr
    assert "pip install 'tidewise[kube]'" in out.stderr


def normal(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def names(requirements: list[str]) -> set[str]:
    return {normal(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def test_the_extras_named_declare_those_modules():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    distributions = packages_distributions()
    for module, extra in EXTRA_OF_MODULE.items():
        provided_by = {normal(d) for d in distributions[module]}
        assert provided_by & names(project["optional-dependencies"][extra]), module
        assert not provided_by & names(project["dependencies"]), module


def test_version_and_short_help():
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and re.fullmatch(r"tidewise \d+\.\d+\.\d+\S*\n", version.output)
    for args in (["-h"], ["sim", "-h"], ["job", "list", "-h"]):
        out = runner.invoke(app, args)
        assert out.exit_code == 0 and "Usage:" in out.output, args


def test_shell_completion_is_offered():
    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in out.output and "--show-completion" in out.output
