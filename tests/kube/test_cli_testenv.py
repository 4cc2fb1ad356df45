"""``tidewise testenv up|status|down`` as a developer runs them (real subprocesses)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tidewise.kube.testenv.build import Binaries

pytestmark = pytest.mark.e2e


def tidewise(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tidewise.cli", "testenv", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_up_status_down(binaries: Binaries, tmp_path: Path):
    folder = tmp_path / "cluster"
    started = tidewise("up", "--dir", str(folder))
    assert started.returncode == 0, started.stderr
    try:
        assert started.stdout == f"{folder / 'kubeconfig'}\n"
        healthy = tidewise("status", "--dir", str(folder))
        assert healthy.returncode == 0, healthy.stdout
        assert healthy.stdout.count(" ok\n") == 5
    finally:
        stopped = tidewise("down", "--dir", str(folder))
    assert stopped.returncode == 0
    assert "stopped kwok, kube-scheduler, kube-controller-manager, kube-apiserver" in " ".join(
        stopped.stderr.split()
    )
    gone = tidewise("status", "--dir", str(folder))
    assert gone.returncode == 2
    assert "no test cluster" in gone.stderr
