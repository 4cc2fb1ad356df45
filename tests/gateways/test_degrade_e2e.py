"""Degradation for real: when a fails, b (short of capacity) scales its optional service to 0
on a real control plane, and back to its usual replicas after a returns."""

import json
import subprocess
import sys

import pytest
from lightkube.resources.apps_v1 import Deployment

from tests.gateways.stand import FAILOVER
from tests.kube.kwok import deployment, wait_for

pytestmark = pytest.mark.e2e
USUAL = 3


def test_the_survivor_scales_optional_services_down_and_back(stand, cluster, kube, namespace):
    kube.create(deployment(USUAL, {"tidewise.io/no-such-node": "true"}), namespace=namespace)
    optional = {f"{namespace}/web": USUAL}
    config = stand.write_config(
        {"a": 50, "b": 50},
        {"b": {"capacity": 0.6, "optional": optional, "kubeconfig": str(cluster.kubeconfig)}},
        **FAILOVER,
    )
    log = stand.folder / "watch.jsonl"

    def replicas() -> int:
        return kube.get(Deployment, "web", namespace=namespace).spec.replicas

    with open(log, "w") as out:
        watch = subprocess.Popen(
            [sys.executable, "-m", "tidewise.cli", "fleet", "watch", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for("the watch's first weights", lambda: '"weights"' in log.read_text())
        stand.clusters["a"].stop()
        wait_for("b's optional service scaled to 0", lambda: replicas() == 0, deadline=60)
        stand.clusters["a"].start()
        wait_for("b's optional service back", lambda: replicas() == USUAL, deadline=60)
    finally:
        watch.terminate()
        watch.wait(timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    degrade = [(e["replicas"], e.get("applied")) for e in events if e["event"] == "degrade"]
    assert degrade == [(0, True), (USUAL, True)]
