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


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (TIDEWISE_REQUIRE_E2E=1) a skipped test is a failure, not a pass."""
    if os.environ.get("TIDEWISE_REQUIRE_E2E") == "1" and _skipped:
        print(f"\nTIDEWISE_REQUIRE_E2E: {len(_skipped)} skipped test(s): {', '.join(_skipped)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
