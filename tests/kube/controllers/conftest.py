"""Fixtures for the controllers' end-to-end tests: the CRDs from deploy/crds applied to the
session cluster, the operator as its own process (restartable), and a real Prometheus."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lightkube import Client

from tests.kube.controllers.support import (
    PROMETHEUS,
    OperatorProcess,
    PrometheusServer,
    running_prometheus,
)
from tidewise.testenv import Cluster


@pytest.fixture
def operator_factory(
    cluster: Cluster, kube: Client, crds: None, provisioned: str
) -> Iterator[Callable[..., OperatorProcess]]:
    """Starts ``tidewise operator`` with extra options, leading in the test's namespace;
    every one started is killed when the test ends."""
    made: list[OperatorProcess] = []

    def make(*extra: str) -> OperatorProcess:
        operator = OperatorProcess(cluster, kube, provisioned, list(extra))
        made.append(operator)
        operator.start()
        return operator

    yield make
    for operator in made:
        operator.stack.close()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: install Debian's prometheus package (make test)")
    with running_prometheus(tmp_path) as running:
        yield running
