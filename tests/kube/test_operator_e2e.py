"""``tidewise operator`` as its own process against the session cluster: it answers /healthz,
exposes its metrics, holds the leader Lease, and provisions a Deployment scaled beyond the
cluster; on SIGTERM it releases the Lease."""

import signal
import time

import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.controllers.support import http_get
from tests.kube.kwok import available, deployment, lease_holder, operator_process, wait_for
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

REPLICAS = 6
KWOK = {PROVISIONER: "kwok"}
IDENTITY = "operator-under-test"


@pytest.fixture
def operator(cluster: Cluster, kube, provisioned: str):
    """The operator, electing in the test's namespace; its nodes are deleted afterwards."""
    port = free_ports(("operator",))["operator"]
    with operator_process(cluster, kube, provisioned, IDENTITY, port) as p:
        yield p, f"http://127.0.0.1:{port}"


def test_operator_leads_serves_health_and_metrics_and_provisions(
    cluster: Cluster, kube, namespace, operator
):
    process, base = operator
    wait_for("/healthz", lambda: http_get(f"{base}/healthz")[0] == 200, deadline=60)

    def holder() -> str | None:
        return lease_holder(kube, namespace)

    wait_for("the Lease held", lambda: holder() == IDENTITY)

    kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
    wait_for("every replica running", lambda: available(kube, namespace) == REPLICAS, deadline=180)
    pods = list(kube.list(Pod, namespace=namespace))
    assert len(pods) == REPLICAS
    assert all(pod.status.phase == "Running" for pod in pods)
    assert list(kube.list(Node, labels=KWOK)), "no node was provisioned"

    status, metrics = http_get(f"{base}/metrics")
    assert status == 200
    assert 'tidewise_decisions_applied_total{kind="launch"} 2.0' in metrics
    assert "tidewise_errors_total" in metrics
    assert "tidewise_round_seconds_count" in metrics
    assert "tidewise_leader 1.0" in metrics
    assert process.poll() is None, "the operator died"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert holder() is None, "the Lease was not released on shutdown"
    log = (cluster.folder / f"logs/operator-{IDENTITY}.log").read_text()
    assert "forbidden" not in log.lower(), "the shipped RBAC refused a call"


def test_a_standby_takes_over_when_the_leader_dies_and_nothing_is_bought_twice(
    cluster: Cluster, kube, provisioned
):
    namespace = provisioned
    ports = free_ports(("first", "second"))
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with (
        operator_process(cluster, kube, namespace, "first", ports["first"]) as first,
        operator_process(cluster, kube, namespace, "second", ports["second"]) as second,
    ):
        processes = {"first": first, "second": second}

        def holder() -> str | None:
            return lease_holder(kube, namespace)

        wait_for("one operator leading", lambda: holder() in processes, deadline=60)
        leader = holder()
        standby = next(name for name in processes if name != leader)
        wait_for("the standby up", lambda: http_get(f"{bases[standby]}/healthz")[0] == 200)
        assert "tidewise_leader 0.0" in http_get(f"{bases[standby]}/metrics")[1]

        kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
        wait_for("6 replicas running", lambda: available(kube, namespace) == REPLICAS, deadline=180)
        assert len(list(kube.list(Node, labels=KWOK))) == 2

        processes[leader].kill()  # SIGKILL: the Lease is not released, it must expire
        killed = time.monotonic()
        wait_for("the standby leading", lambda: holder() == standby, deadline=60)
        takeover_s = time.monotonic() - killed
        assert takeover_s < 6 + 2 + 5, f"took {takeover_s:.1f} s for a 6 s Lease"

        kube.patch(Deployment, "web", {"spec": {"replicas": REPLICAS + 3}}, namespace=namespace)
        wait_for("9 replicas running", lambda: available(kube, namespace) == REPLICAS + 3)
        assert len(list(kube.list(Node, labels=KWOK))) == 3, "a node was bought twice"
        metrics = http_get(f"{bases[standby]}/metrics")[1]
        assert 'tidewise_decisions_applied_total{kind="launch"} 1.0' in metrics
        assert processes[standby].poll() is None
