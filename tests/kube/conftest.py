"""Fixtures of the Kubernetes end-to-end tests beyond the session's control plane
(tests/controlplane.py): the CRDs of deploy/crds (the kwok provider records its machines),
nodes and machines a provisioner left behind, and the GPU-share extender."""

from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node

from tests.kube.controllers.support import apply_crds
from tests.kube.gpushare import Extender
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.kube.provider.machines import Machine
from tidewise.testenv import Cluster


@pytest.fixture(scope="session")
def crds(kube: Client) -> None:
    apply_crds(kube)


@pytest.fixture
def provisioned(kube: Client, crds: None, namespace: str) -> Iterator[str]:
    """A namespace for the test; every machine and node a provisioner left is deleted
    afterwards (the machine records first, so no provisioner boots them on)."""
    yield namespace
    for machine in kube.list(Machine):
        kube.delete(Machine, machine.metadata.name)
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
