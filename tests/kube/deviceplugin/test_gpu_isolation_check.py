"""scripts/gpu-isolation-check on a machine without a GPU: it says so and exits 0; with a
GPU but no MPS it says what is missing. (On a GPU it measures; docs/device-plugin.md.)"""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts/gpu-isolation-check"


def run(path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def fake(folder: Path, name: str, status: int) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\nexit {status}\n")
    path.chmod(0o755)


def test_without_a_gpu_it_says_so_and_succeeds(tmp_path):
    done = run(f"{tmp_path}:/usr/bin:/bin")  # no nvidia-smi at all
    assert done.returncode == 0 and done.stdout.startswith("no GPU here"), done
    fake(tmp_path, "nvidia-smi", 9)  # a driver that finds no GPU
    done = run(f"{tmp_path}:/usr/bin:/bin")
    assert done.returncode == 0 and done.stdout.startswith("no GPU here"), done


def test_with_a_gpu_but_without_mps_it_names_what_is_missing(tmp_path):
    fake(tmp_path, "nvidia-smi", 0)
    done = run(f"{tmp_path}:/usr/bin:/bin")
    assert done.returncode == 1
    assert "nvidia-cuda-mps-control not found" in done.stdout
