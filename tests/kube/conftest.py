"""Fixtures of the Kubernetes end-to-end tests beyond the session's control plane
(tests/controlplane.py): the CRDs of deploy/crds (the kwok provider records its machines),
nodes and machines a provisioner left behind, the GPU-share extender, and Karpenter (built,
installed, running)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node

from tests.controlplane import NO_GO, progress, required
from tests.kube.controllers.support import apply_crds
from tests.kube.gpushare import Extender
from tests.kube.karpenter import install, running_karpenter
from tidewise.capacity.karpenter import kwok_instance_types
from tidewise.catalog import Catalog, builtin_catalog_path, load_catalog
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.kube.provider.machines import Machine
from tidewise.testenv import Cluster
from tidewise.testenv.karpenter import (
    PRIORITIZED,
    UPSTREAM,
    KarpenterBuild,
    cached_karpenter,
    ensure_karpenter,
    write_instance_types,
)


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


# Karpenter: its build, CRDs and the catalog as instance types, per test module; a running
# Karpenter per test
@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


@pytest.fixture(scope="module")
def karpenter_build(binaries) -> KarpenterBuild:  # binaries: skipped (or failed) without Go
    if cached_karpenter() is None and shutil.which("go") is None:
        if required():
            pytest.fail(NO_GO)
        pytest.skip(NO_GO)
    return ensure_karpenter(progress)


@pytest.fixture(scope="module")
def installed(kube: Client, karpenter_build: KarpenterBuild) -> KarpenterBuild:
    install(kube, karpenter_build)
    return karpenter_build


@pytest.fixture(scope="module")
def instance_types(cluster: Cluster, catalog: Catalog) -> Path:
    """The whole builtin catalog, as Karpenter's kwok provider reads it."""
    return write_instance_types(
        cluster.folder / "instance-types.json", kwok_instance_types(catalog.offerings)
    )


@pytest.fixture
def karpenter(kube, cluster, installed, instance_types, namespace) -> Iterator[str]:
    """Upstream's kwok Karpenter running for one test; yields the test's namespace."""
    with running_karpenter(kube, cluster, installed, instance_types, namespace, UPSTREAM):
        yield namespace


@pytest.fixture
def prioritized_karpenter(kube, cluster, installed, instance_types, namespace) -> Iterator[str]:
    """Karpenter whose launch follows NodeOverlay prices (as on AWS), for one test."""
    with running_karpenter(kube, cluster, installed, instance_types, namespace, PRIORITIZED):
        yield namespace
