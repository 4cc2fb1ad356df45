"""The API server goes away mid-run and comes back: every controller resumes by itself.

The operator (provisioning) and the GPU-share extender run as their own processes while the
session cluster's kube-apiserver is stopped for longer than the operator's Lease and started
again on the same port. Nothing is restarted by hand afterwards: the work that arrives next
(a Deployment beyond the cluster, GPU-share pods on nodes created after the restart) must be
done by the same processes, which proves their clients, watches and Lease all recovered.
"""

import time
import urllib.request

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.gpushare import HALF, bound, gpu_nodes, gpu_pod
from tests.kube.kwok import available, deployment, lease_holder, operator_process, wait_for
from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.testenv import Cluster, start_component, stop_component
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

IDENTITY = "survivor"
KWOK = {PROVISIONER: "kwok"}
OUTAGE_S = 15.0  # more than the operator's 6 s Lease: it must notice, step back and re-elect


def metric(base: str, line_start: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_operator_and_extender_resume_after_the_api_server_restarts(
    cluster: Cluster, kube: Client, extender, provisioned: str
):
    namespace = provisioned
    extender.start()
    port = free_ports(("operator",))["operator"]
    base = f"http://127.0.0.1:{port}"
    with operator_process(cluster, kube, namespace, IDENTITY, port) as op:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == IDENTITY)

        stop_component(cluster.folder, "kube-apiserver")
        time.sleep(OUTAGE_S)
        start_component(cluster.folder, "kube-apiserver")

        assert op.poll() is None, "the operator died while the API server was away"
        assert extender.process is not None and extender.process.poll() is None
        assert metric(base, 'tidewise_errors_total{where="lease"}') > 0, "the outage went unseen"
        wait_for("the Lease held again", lambda: lease_holder(kube, namespace) == IDENTITY)

        kube.create(deployment(6, KWOK), namespace=namespace)
        wait_for("every replica running", lambda: available(kube, namespace) == 6, deadline=180)
        assert list(kube.list(Node, labels=KWOK)), "no node was provisioned after the restart"
        assert all(p.status.phase == "Running" for p in kube.list(Pod, namespace=namespace))

        # nodes made after the restart reach the extender only through its renewed watch
        with gpu_nodes(kube) as (gpu_namespace, suffix, _):
            for i in range(3):
                kube.create(gpu_pod(f"g{i}", HALF, {"e2e": suffix}), namespace=gpu_namespace)
            wait_for("GPU-share pods bound", lambda: len(bound(kube, gpu_namespace)) == 3)
            assert all(recorded_gpus(p.to_dict()) for p in bound(kube, gpu_namespace))
        assert op.poll() is None and extender.process.poll() is None
