"""Fixtures of the Kubernetes end-to-end tests beyond the session's control plane
(tests/controlplane.py): nodes a provisioner left behind, and the GPU-share extender."""

from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node

from tests.kube.gpushare import Extender
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.testenv import Cluster


@pytest.fixture
def provisioned(kube: Client, namespace: str) -> Iterator[str]:
    """A namespace for the test; every node a provisioner left is deleted afterwards."""
    yield namespace
    for node in kube.list(Node, labels={PROVISIONER: "kwok"}):
        kube.delete(Node, node.metadata.name)


@pytest.fixture
def extender(cluster: Cluster, extender_port: int) -> Iterator[Extender]:
    """The GPU-share extender the session's scheduler calls; started by the test, killed after."""
    log = cluster.folder / "logs/extender.log"
    process = Extender(cluster.kubeconfig, extender_port, log, cluster.folder / "pki")
    try:
        yield process
    finally:
        process.kill()
