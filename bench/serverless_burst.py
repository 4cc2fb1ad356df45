"""Serverless bursts against a real control plane: how long past the bound a pending pod
waits before it runs on the virtual node, and how fast the pods move back once a VM has room.

    PYTHONPATH=. python bench/serverless_burst.py [--pods 20]

Starts a throw-away cluster (tidewise.testenv, cached binaries), a kwok virtual node, and
``tidewise operator`` with serverless bursts only (1 s passes, bound 8 s, the twin's default
overhead so no pod moves for its break-even), as the shipped ServiceAccount. A Deployment of
``--pods`` opted-in pods (600m, 512Mi) that no VM can take pends, then bursts. **Burst
delay** of a pod: from its creation plus the bound to its first sight Ready on the virtual
node (the pods are polled every 0.1 s; creation is when the poll first saw the pod). Then a
kwok VM with room for every pod is added and a budget allows one pod unavailable; **move
back** is the time from the VM's creation to all pods Ready on it (one pod at a time: each
waits for the previous replacement to be Ready), also per pod. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kube.kwok import condition, fake_node, wait_for, web_budget  # noqa: E402
from tests.kube.test_serverless_burst_e2e import (  # noqa: E402
    BOUND_S,
    operator_with_bursts,
    virtual_node,
    workload,
)
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(kube: Client, cluster, pods: int) -> dict:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    selector = {"e2e-burst": namespace}
    virtual = f"virtual-{namespace}"
    kube.create(virtual_node(virtual, selector))
    wait_for("the virtual node Ready", lambda: condition(kube.get(Node, virtual), "Ready"))
    with operator_with_bursts(cluster, kube, namespace, 330.0):
        time.sleep(10)  # the operator's start and first lead (kopf, the Lease)
        kube.create(web_budget(), namespace=namespace)
        kube.create(workload("web", pods, selector, opted=True), namespace=namespace)
        seen: dict[str, float] = {}
        burst: dict[str, float] = {}
        while len(burst) < pods:
            now = time.monotonic()
            for pod in kube.list(Pod, namespace=namespace):
                seen.setdefault(pod.metadata.name, now)
                if pod.spec.nodeName == virtual and condition(pod, "Ready"):
                    burst.setdefault(pod.metadata.name, now)
            time.sleep(0.1)
        delays = [burst[name] - seen[name] - BOUND_S for name in burst]
        vm = "vm-" + namespace
        capacity = {"cpu": str(pods), "memory": f"{pods}Gi"}
        start = time.monotonic()
        kube.create(fake_node(vm, capacity, selector))

        def back() -> bool:
            listed = [
                p for p in kube.list(Pod, namespace=namespace) if not p.metadata.deletionTimestamp
            ]
            return len(listed) == pods and all(
                p.spec.nodeName == vm and condition(p, "Ready") for p in listed
            )

        wait_for("every pod back on the VM", back, deadline=60 + 5 * pods, poll_s=0.1)
        moved_s = time.monotonic() - start
    for name in (virtual, vm):
        kube.delete(Node, name)
    kube.delete(Namespace, namespace)
    return {
        "pods": pods,
        "bound_s": BOUND_S,
        "burst_delay_s": {
            "min": min(delays),
            "median": statistics.median(delays),
            "p90": quantile(delays, 0.9),
            "max": max(delays),
        },
        "move_back_all_s": moved_s,
        "move_back_per_pod_s": moved_s / pods,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidewise-bench-burst-"))
    cluster = up(folder / "cluster", ensure_binaries(print), print)
    try:
        kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        print(json.dumps(run(kube, cluster, args.pods), indent=2))
    finally:
        down(cluster.folder)


if __name__ == "__main__":
    main()
