"""The distributions a user installs: built as PyPI would receive them, and accepted by
``twine check`` (the long description renders, the metadata is complete), with the licence
inside and without the test control plane."""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return sorted(out.iterdir())


def test_twine_accepts_the_wheel_and_the_sdist(dists):
    assert sorted(p.suffix for p in dists) == [".gz", ".whl"]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_carries_the_licence_and_not_the_test_control_plane(dists):
    wheel = next(p for p in dists if p.suffix == ".whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith("tidewise/testenv")]
    assert "tidewise/cli/__init__.py" in names


def test_the_sdist_carries_the_licence(dists):
    sdist = next(p for p in dists if p.suffix == ".gz")
    with tarfile.open(sdist) as tar:
        assert any(n.endswith("/LICENSE") for n in tar.getnames())
