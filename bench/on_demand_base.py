"""The on-demand base through a reclaim storm: the share of replicas on on-demand against the
requested base while spot nodes are taken away one after another.

    PYTHONPATH=. python bench/on_demand_base.py [--replicas 10] [--base 3] [--reclaims 4]
                                                [--gap 2] [--poll 0.2]

Starts a throw-away cluster (tidewise.testenv, cached binaries), upstream's kwok Karpenter
(the builtin aws-us-east-1 catalog as its instance types, a NodePool of m6i.large and
c6i.large, on-demand and spot, so the replicas spread over several nodes) and
``tidewise operator --on-demand-base`` under the shipped ServiceAccount, with the webhook on
loopback (tests/kube/on_demand_base.py). A Deployment of ``--replicas`` annotated with
``--base`` runs; then ``--reclaims`` spot nodes that hold its replicas are deleted ``--gap``
seconds apart (kwok nodes deleted as a cloud's reclaim would take them). Every ``--poll``
seconds from the first deletion until the Deployment is whole again, the replicas running on
on-demand nodes are counted, and all those running. Prints JSON: the samples' minimum and
mean share on on-demand, the requested base as a share, how many samples fell below the
base (the target: none), and the fewest replicas running (how hard the storm hit).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kube.karpenter import KWOK_CLASS, apply, install, running_karpenter  # noqa: E402
from tests.kube.kwok import lease_holder, operator_process, wait_for  # noqa: E402
from tests.kube.on_demand_base import (  # noqa: E402
    POOL_LABEL,
    apply_webhook,
    based_deployment,
    operator_config,
    placed,
    running_on_demand,
    webhook_configuration,
)
from tidewise.capacity.karpenter import NodePoolSpec, kwok_instance_types  # noqa: E402
from tidewise.capacity.karpenter.nodepools import node_pool  # noqa: E402
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings  # noqa: E402
from tidewise.catalog import builtin_catalog_path, load_catalog  # noqa: E402
from tidewise.model import CapacityRules  # noqa: E402
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402
from tidewise.testenv.cluster import free_ports  # noqa: E402
from tidewise.testenv.karpenter import (  # noqa: E402
    UPSTREAM,
    ensure_karpenter,
    write_instance_types,
)

TYPES = ("m6i.large", "c6i.large")  # small nodes: the replicas spread over several
APP = "web"


def storm(kube: Client, namespace: str, replicas: int, reclaims: int, gap_s: float, poll_s: float):
    """Delete ``reclaims`` spot nodes holding replicas, ``gap_s`` apart, sampling the replicas
    on on-demand (and all those running) until all ``replicas`` run again; both series and
    the nodes deleted."""
    samples: list[int] = []
    running: list[int] = []
    deleted: list[str] = []
    next_at = time.monotonic()
    deadline = time.monotonic() + 300
    while True:
        now = placed(kube, namespace, APP)
        samples.append(running_on_demand(now))
        running.append(sum(1 for r in now if r.phase == "Running"))
        if len(deleted) < reclaims and time.monotonic() >= next_at:
            spot = sorted({r.node for r in now if r.node_capacity == "spot" and r.node})
            fresh = [n for n in spot if n not in deleted]
            if fresh:
                kube.delete(Node, fresh[0])
                deleted.append(fresh[0])
                next_at = time.monotonic() + gap_s
        live = {n.metadata.name for n in kube.list(Node)}
        whole = len(now) == replicas and all(r.phase == "Running" for r in now)
        if len(deleted) == reclaims and whole and not set(deleted) & live:
            return samples, running, deleted
        assert time.monotonic() < deadline, "the Deployment did not recover in 5 minutes"
        time.sleep(poll_s)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout holds the JSON alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--base", default="3")
    parser.add_argument("--reclaims", type=int, default=4)
    parser.add_argument("--gap", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=0.2)
    args = parser.parse_args()
    requested = CapacityRules.of_base(args.base).base(args.replicas)
    folder = Path(tempfile.mkdtemp(prefix="tidewise-bench-odbase-"))
    cluster = up(folder / "cluster", ensure_binaries(progress), progress)
    try:
        kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="tidewise-tests")
        build = ensure_karpenter(progress)
        install(kube, build)
        catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
        types = write_instance_types(
            cluster.folder / "instance-types.json", kwok_instance_types(catalog.offerings)
        )
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
        ports = free_ports(("health", "webhook"))
        config = operator_config(cluster, ports["webhook"], folder / "operator.yaml")
        options = ("--config", str(config), "--on-demand-base")
        with (
            running_karpenter(kube, cluster, build, types, namespace, UPSTREAM),
            operator_process(cluster, kube, namespace, "bench", ports["health"], *options),
        ):
            spec = NodePoolSpec("bench-base", TYPES)
            settings = NodeAutoscalerSettings()
            apply(kube, node_pool(spec, catalog.offerings, [], KWOK_CLASS, settings))
            wait_for("the Lease", lambda: lease_holder(kube, namespace) == "bench", 60)
            apply_webhook(kube, webhook_configuration(cluster, ports["webhook"], namespace))
            deployment = based_deployment(APP, args.replicas, args.base, {POOL_LABEL: "bench-base"})
            kube.create(deployment, namespace=namespace)

            def whole() -> bool:
                now = placed(kube, namespace, APP)
                return len(now) == args.replicas and all(r.phase == "Running" for r in now)

            wait_for("the Deployment running", whole, deadline=300)
            before = running_on_demand(placed(kube, namespace, APP))
            start = time.monotonic()
            samples, running, deleted = storm(
                kube, namespace, args.replicas, args.reclaims, args.gap, args.poll
            )
            seconds = time.monotonic() - start
        shares = [s / args.replicas for s in samples]
        print(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "machine": platform.machine(),
                    "replicas": args.replicas,
                    "base": args.base,
                    "requested_on_demand": requested,
                    "requested_share": requested / args.replicas,
                    "on_demand_before": before,
                    "spot_nodes_deleted": len(deleted),
                    "storm_seconds": round(seconds, 1),
                    "samples": len(samples),
                    "min_running": min(running),
                    "min_on_demand": min(samples),
                    "max_on_demand": max(samples),
                    "min_share": min(shares),
                    "mean_share": round(statistics.fmean(shares), 4),
                    "samples_below_base": sum(1 for s in samples if s < requested),
                },
                indent=1,
            )
        )
    finally:
        down(cluster.folder)


if __name__ == "__main__":
    main()
