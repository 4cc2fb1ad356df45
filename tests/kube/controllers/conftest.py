"""Fixtures for the controllers' end-to-end tests: the CRDs from deploy/crds applied to the
session cluster, the operator as its own process (restartable), and a real Prometheus."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lightkube import Client

from tests.kube.controllers.support import (
    OperatorProcess,
    PrometheusServer,
    running_prometheus,
)
from tidewise.testenv import Cluster
from tidewise.testenv.prometheus import PrometheusBinaries


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
def prometheus(
    tmp_path: Path, prometheus_binaries: PrometheusBinaries
) -> Iterator[PrometheusServer]:
    with running_prometheus(tmp_path) as running:
        yield running
