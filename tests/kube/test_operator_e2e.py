"""``tidewise operator`` as its own process against the session cluster: it answers /healthz,
exposes its metrics, holds the leader Lease, and provisions a Deployment scaled beyond the
cluster; on SIGTERM it releases the Lease."""

import signal
import urllib.error
import urllib.request

import pytest
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.kwok import available, deployment, operator_process, wait_for
from tidewise.kube.operator import LEASE_NAME
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.kube.testenv import Cluster
from tidewise.kube.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

REPLICAS = 6
KWOK = {PROVISIONER: "kwok"}
IDENTITY = "operator-under-test"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


@pytest.fixture
def operator(cluster: Cluster, provisioned: str):
    """The operator, electing in the test's namespace; its nodes are deleted afterwards."""
    port = free_ports(("operator",))["operator"]
    with operator_process(cluster.folder, cluster.kubeconfig, provisioned, IDENTITY, port) as p:
        yield p, f"http://127.0.0.1:{port}"


def test_operator_leads_serves_health_and_metrics_and_provisions(kube, namespace, operator):
    process, base = operator
    wait_for("/healthz", lambda: get(f"{base}/healthz")[0] == 200, deadline=60)

    def holder() -> str | None:
        leases = [lease for lease in kube.list(Lease, namespace=namespace)]
        mine = [lease for lease in leases if lease.metadata.name == LEASE_NAME]
        return mine[0].spec.holderIdentity if mine else None

    wait_for("the Lease held", lambda: holder() == IDENTITY)

    kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
    wait_for("every replica running", lambda: available(kube, namespace) == REPLICAS, deadline=180)
    pods = list(kube.list(Pod, namespace=namespace))
    assert len(pods) == REPLICAS
    assert all(pod.status.phase == "Running" for pod in pods)
    assert list(kube.list(Node, labels=KWOK)), "no node was provisioned"

    status, metrics = get(f"{base}/metrics")
    assert status == 200
    assert 'tidewise_decisions_applied_total{kind="launch"} 2.0' in metrics
    assert "tidewise_errors_total" in metrics
    assert "tidewise_round_seconds_count" in metrics
    assert "tidewise_leader 1.0" in metrics
    assert process.poll() is None, "the operator died"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert holder() is None, "the Lease was not released on shutdown"
