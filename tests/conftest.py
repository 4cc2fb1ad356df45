"""Shared fixtures."""

import os
from pathlib import Path

import pytest

from tests.factories import SHARED_DATA

# the session's control plane: one for every folder of end-to-end tests that asks for it
pytest_plugins = ("tests.controlplane",)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not SHARED_DATA.is_dir():
        pytest.exit(
            f"the tests read real data from {SHARED_DATA}: check the repository out beside "
            "shared/ or set TIDEWISE_SHARED_DATA=/path/to/shared/data",
            returncode=2,
        )


@pytest.fixture
def shared_data() -> Path:
    return SHARED_DATA


SLOWEST_FIRST = (
    "tests/sim/services/test_default_week.py",
    "tests/kube/test_headroom_e2e.py",
    "tests/kube/test_operator_faults_e2e.py",
    "tests/kube/test_apiserver_restart_e2e.py",
    "tests/kube/test_serverless_burst_e2e.py",
    "tests/kube/test_colocation_e2e.py",
    "tests/sim/services/test_sweep.py",
)
"""The files of two minutes or more, handed out first: ``make test`` gives each of its two
processes a file at a time in collection order, and a two-minute file collected last leaves
the other process idle at the end (the pinned default week did, +3 min)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {path: rank for rank, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::")[0], len(first)))


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (TIDEWISE_REQUIRE_E2E=1) a skipped test is a failure, not a pass."""
    if os.environ.get("TIDEWISE_REQUIRE_E2E") == "1" and _skipped:
        print(f"\nTIDEWISE_REQUIRE_E2E: {len(_skipped)} skipped test(s): {', '.join(_skipped)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
