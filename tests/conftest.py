"""Shared fixtures."""

from pathlib import Path

import pytest

from tests.factories import SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"tests need the shared data folder at {SHARED_DATA}"
    return SHARED_DATA
