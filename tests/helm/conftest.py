"""The cached helm command, built on first use (minutes when cold, like the control plane)."""

import pytest

from tests.helm.chart import helm_build
from tidewise.testenv.helm import HelmBuild


@pytest.fixture(scope="session")
def helm_binary() -> HelmBuild:
    return helm_build()
