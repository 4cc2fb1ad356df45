"""A throw-away control plane for the end-to-end suites, one per test session.

Shared by tests/kube, tests/testenv and tests/gateways (registered in tests/conftest.py, so
that a session running several of them starts one cluster, not one per folder). The binaries
are built on first use (minutes when the cache is cold, so progress goes to the terminal even
while pytest captures output). Without Go and without a cached build the suite is skipped with
a loud message, except in CI, where it must run.
"""

import os
import shutil
import sys
import uuid
from collections.abc import Iterator

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, ServiceAccount

from tests.kube.kwok import wait_for
from tidewise.kube.extender import extender_stanza
from tidewise.testenv import Cluster, down, ensure_binaries, up
from tidewise.testenv.build import Binaries, cached_binaries
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.prometheus import PrometheusBinaries, find_prometheus

NO_GO = (
    "!!! Go is not installed and no control plane is cached: the end-to-end suite against a "
    "real Kubernetes control plane is SKIPPED. Install Go 1.26+ (with the module proxy "
    "reachable) and run `make test` again; see docs/testenv.md."
)


def required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("TIDEWISE_REQUIRE_E2E") == "1"


def progress(line: str) -> None:
    print(f"testenv: {line}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    """The cached control plane, built now if needed; skipped (or failed in CI) without Go."""
    if cached_binaries() is None and shutil.which("go") is None:
        if required():
            pytest.fail(NO_GO.replace("is SKIPPED", "cannot run, and CI requires it"))
        progress(NO_GO)
        pytest.skip(NO_GO)
    return ensure_binaries(progress)


@pytest.fixture(scope="session")
def extender_port() -> int:
    """Where the scheduler looks for the GPU-share extender (started by the tests that use it;
    pods asking for no GPU share never call it)."""
    return free_ports(("extender",))["extender"]


@pytest.fixture(scope="session")
def cluster(
    binaries: Binaries, tmp_path_factory: pytest.TempPathFactory, extender_port: int
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("testenv").resolve()
    pki = folder / "pki"  # written by up(): the scheduler's client pair, the extender's CA
    tls = {
        "certFile": str(pki / "kube-scheduler.crt"),
        "keyFile": str(pki / "kube-scheduler.key"),
        "caFile": str(pki / "ca.crt"),
    }
    extenders = [extender_stanza(f"https://127.0.0.1:{extender_port}", tls)]
    running = up(folder, binaries, progress, extenders)
    try:
        yield running
    finally:
        down(running.folder)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Client:
    return Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="tidewise-tests")


@pytest.fixture
def namespace(kube: Client) -> Iterator[str]:
    """A fresh namespace, ready for pods, deleted afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    # pods are refused until the controller manager has made the namespace's service account
    wait_for(
        "the default service account", lambda: bool(list(kube.list(ServiceAccount, namespace=name)))
    )
    yield name
    kube.delete(Namespace, name)


@pytest.fixture(scope="session")
def prometheus_binaries() -> PrometheusBinaries:
    """Debian's prometheus and promtool, which ``make test`` installs (``make debs``): a real
    query engine for the tests that read metrics; missing, those tests fail, never skip."""
    found = find_prometheus()
    if found is None:
        pytest.fail("prometheus/promtool are missing: run `make debs` (Debian's prometheus)")
    return found
