"""A burst of pending pods on the real control plane + real Karpenter + kwok: time to all
Running, and what was bought, with Karpenter steered by tidewise versus Karpenter alone.

    PYTHONPATH=. python bench/karpenter_burst.py [--pods 100] [--runs 5]

Starts a throw-away cluster (tidewise.testenv, cached binaries), installs Karpenter v1.12.0's
CRDs and runs its kwok command whose launch follows NodeOverlay prices, as the AWS provider's
prioritized CreateFleet does (``karpenter-kwok-prioritized``, docs/testenv.md), on the
instance types of the bundled scenario's node pools at the catalog's prices (what
``tidewise karpenter instance-types`` prints). Two arms, alternated in one run, ``--runs``
times each:

* ``tidewise``: ``tidewise operator`` with ``nodes.engine: karpenter`` on the bundled
  scenario (its NodePools, spot-risk, commitment and GPU-share NodeOverlays, kept current by
  the Karpenter controller every second), started and its objects validated by Karpenter
  before the burst;
* ``karpenter``: one plain NodePool, Karpenter's defaults (every instance type of the file,
  on-demand or spot, ``WhenEmptyOrUnderutilized`` after 0 s, budget 10 % of nodes).

The burst is one Deployment of ``--pods`` replicas of the scenario's ``web`` pod (1 CPU,
2 GiB) with no node selector; the time is from its creation to every replica Running (polled
every 0.5 s). What was bought is read from the NodeClaims at that moment: instance type and
capacity type per node, and the list price per hour that the kwok provider puts on each
Node. Between runs everything is deleted and the nodes given back. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client, KubeConfig, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod, ServiceAccount

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kube.karpenter import (  # noqa: E402
    KWOK_CLASS,
    NodeClaim,
    NodeOverlay,
    NodePool,
    install,
    overlay_applied,
    pending_workload,
    steering_config,
    steering_operator,
)
from tests.kube.kwok import wait_for  # noqa: E402
from tidewise.capacity.karpenter import kwok_instance_types  # noqa: E402
from tidewise.capacity.karpenter.overlays import MANAGED_BY  # noqa: E402
from tidewise.cli.sim import default_scenario_path  # noqa: E402
from tidewise.model import Resources  # noqa: E402
from tidewise.sim.services.runner import capacity_inputs  # noqa: E402
from tidewise.sim.services.scenario import load_scenario  # noqa: E402
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402
from tidewise.testenv.karpenter import (  # noqa: E402
    PRIORITIZED,
    ensure_karpenter,
    karpenter_process,
    write_instance_types,
)

PRICE_LABEL = "eks-node-viewer/instance-price"  # the kwok provider's list price on a Node
WEB = Resources(cpu_milli=1000, memory_mib=2048)  # the bundled scenario's web replica
PLAIN = "default"


def progress(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def plain_pool() -> dict[str, Any]:
    """Karpenter alone: a NodePool with Karpenter v1's defaults on the kwok node class."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": PLAIN},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": KWOK_CLASS.group,
                        "kind": KWOK_CLASS.kind,
                        "name": KWOK_CLASS.name,
                    },
                    "requirements": [
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand", "spot"],
                        }
                    ],
                }
            },
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "0s",
                "budgets": [{"nodes": "10%"}],
            },
        },
    }


def fresh_namespace(kube: Client) -> str:
    name = f"burst-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    wait_for(
        "the default service account",
        lambda: bool(list(kube.list(ServiceAccount, namespace=name))),
    )
    return name


def running(kube: Client, namespace: str) -> int:
    return sum(
        1
        for p in kube.list(Pod, namespace=namespace)
        if p.status.phase == "Running" and p.metadata.deletionTimestamp is None
    )


def bought(kube: Client) -> dict[str, Any]:
    """Nodes by instance type and capacity type, and their list price per hour."""
    claims = list(kube.list(NodeClaim))
    kinds = Counter(
        f"{c['metadata']['labels'].get('node.kubernetes.io/instance-type')}/"
        f"{c['metadata']['labels'].get('karpenter.sh/capacity-type')}"
        for c in claims
    )
    prices = [
        float(n.metadata.labels.get(PRICE_LABEL, "nan"))
        for n in kube.list(Node, labels={"karpenter.sh/registered": "true"})
    ]
    return {"nodes": len(claims), "by_type": dict(sorted(kinds.items())), "usd_per_h": sum(prices)}


def give_back(kube: Client, namespace: str) -> None:
    """The burst's namespace (its pods) and every NodePool deleted; Karpenter (still running)
    drains and deletes their NodeClaims and Nodes before the next run starts."""
    kube.delete(Namespace, namespace)
    for pool in kube.list(NodePool):
        kube.delete(NodePool, pool.metadata.name)
    for overlay in kube.list(NodeOverlay):
        kube.delete(NodeOverlay, overlay.metadata.name)

    def gone() -> bool:
        return not list(kube.list(NodeClaim)) and not list(
            kube.list(Node, labels={"karpenter.sh/registered": "true"})
        )

    wait_for("Karpenter to give its nodes back", gone, deadline=600)


def burst(kube: Client, namespace: str, pods: int) -> tuple[float, dict[str, Any]]:
    """Seconds from the Deployment's creation to ``pods`` Running, and what was bought."""
    start = time.monotonic()
    kube.create(pending_workload("web", WEB, {}, pods), namespace=namespace)
    while running(kube, namespace) < pods:
        if time.monotonic() - start > 600:
            raise TimeoutError(f"{pods} pods not Running after 600 s")
        time.sleep(0.5)
    elapsed = time.monotonic() - start
    return elapsed, bought(kube)


def run_tidewise(kube, cluster, folder: Path, pods: int) -> tuple[float, dict[str, Any]]:
    namespace = fresh_namespace(kube)
    document = yaml.safe_load(default_scenario_path().read_text())
    config = steering_config(folder, document, f"bench-{namespace}")
    try:
        with steering_operator(cluster, kube, namespace, config, identity=namespace):

            def applied() -> bool:
                overlays = list(kube.list(NodeOverlay, labels=MANAGED_BY))
                pools = list(kube.list(NodePool, labels=MANAGED_BY))
                return bool(pools) and all(overlay_applied(kube, o.metadata.name) for o in overlays)

            wait_for("tidewise's objects validated", applied, deadline=120)
            return burst(kube, namespace, pods)
    finally:
        give_back(kube, namespace)


def run_plain(kube, pods: int) -> tuple[float, dict[str, Any]]:
    namespace = fresh_namespace(kube)
    kube.apply(codecs.from_dict(plain_pool()), field_manager="bench", force=True)
    try:
        return burst(kube, namespace, pods)
    finally:
        give_back(kube, namespace)


def summary(runs: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    times = [t for t, _ in runs]
    return {
        "median_s": round(statistics.median(times), 2),
        "runs_s": [round(t, 2) for t in times],
        "median_usd_per_h": round(statistics.median(b["usd_per_h"] for _, b in runs), 4),
        "median_nodes": statistics.median(b["nodes"] for _, b in runs),
        "bought": [b for _, b in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scenario, base = load_scenario(default_scenario_path())
    _, offerings, _ = capacity_inputs(scenario, base)
    build = ensure_karpenter(progress)
    with tempfile.TemporaryDirectory(prefix="karpenter-burst-") as tmp:
        folder = Path(tmp)
        cluster = up(folder / "cluster", ensure_binaries(progress), progress)
        try:
            kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
            install(kube, build)
            types = write_instance_types(folder / "types.json", kwok_instance_types(offerings))
            results: dict[str, list[tuple[float, dict[str, Any]]]] = {
                "tidewise": [],
                "karpenter": [],
            }
            with karpenter_process(cluster, build, types, PRIORITIZED):
                for i in range(args.runs):
                    for arm in ("tidewise", "karpenter"):  # alternated: drift hits both
                        if arm == "tidewise":
                            got = run_tidewise(kube, cluster, folder, args.pods)
                        else:
                            got = run_plain(kube, args.pods)
                        progress(f"run {i + 1} {arm}: {got[0]:.1f} s, {got[1]}")
                        results[arm].append(got)
        finally:
            down(cluster.folder)
    answer = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "pods": args.pods,
        "runs": args.runs,
        "karpenter_command": PRIORITIZED,
        "tidewise": summary(results["tidewise"]),
        "karpenter": summary(results["karpenter"]),
    }
    answer["time_ratio_tidewise_over_karpenter"] = round(
        answer["tidewise"]["median_s"] / answer["karpenter"]["median_s"], 3
    )
    answer["usd_per_h_ratio_tidewise_over_karpenter"] = round(
        answer["tidewise"]["median_usd_per_h"] / answer["karpenter"]["median_usd_per_h"], 3
    )
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
