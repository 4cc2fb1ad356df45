"""``tidewise testenv up|status|down`` as a developer runs them (real subprocesses), and the
one line a wheel install, which has no test control plane, answers instead."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.run import tidewise
from tidewise.testenv.build import Binaries


@pytest.mark.e2e
def test_up_status_down(binaries: Binaries, tmp_path: Path):
    folder = tmp_path / "cluster"
    started = tidewise("testenv", "up", "--dir", str(folder), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    try:
        assert started.stdout == f"{folder / 'kubeconfig'}\n"
        healthy = tidewise("testenv", "status", "--dir", str(folder), cwd=tmp_path)
        assert healthy.returncode == 0, healthy.stdout
        assert healthy.stdout.count(" ok\n") == 5
    finally:
        stopped = tidewise("testenv", "down", "--dir", str(folder), cwd=tmp_path)
    assert stopped.returncode == 0
    assert "stopped kwok, kube-scheduler, kube-controller-manager, kube-apiserver" in " ".join(
        stopped.stderr.split()
    )
    gone = tidewise("testenv", "status", "--dir", str(folder), cwd=tmp_path)
    assert gone.returncode == 2
    assert "no test cluster" in gone.stderr


@pytest.mark.parametrize(
    ("missing", "command", "said"),
    [
        ("tidewise.testenv", ["up", "--dir", "x"], "not in an installed wheel"),
        ("tidewise.testenv", ["build"], "not in an installed wheel"),
        ("cryptography", ["status"], "it needs cryptography"),
    ],
)
def test_without_the_control_plane_it_says_it_is_a_development_tool(
    tmp_path, missing, command, said
):
    """As after ``pip install tidewise`` (no ``tidewise.testenv``, no ``cryptography``): each
    command is refused in one line, exit code 2, before it builds or starts anything."""
    hide = f"import sys; sys.modules[{missing!r}] = None; from tidewise.cli import app; app()"
    answer = subprocess.run(
        [sys.executable, "-c", hide, "testenv", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert answer.returncode == 2
    assert answer.stdout == ""
    (line,) = answer.stderr.splitlines()
    assert line.startswith("error: tidewise testenv is a development tool")
    assert said in line and "docs/testenv.md" in line
    assert not (tmp_path / "x").exists()
