"""Placeholder-led scale-out: real pods waiting for a node, with and without an ElasticScaler's
headroom, on a compressed replay of the NASA week's peak (real control plane, Karpenter, kwok).

    PYTHONPATH=. python bench/headroom.py [--trace PATH] [--pace 0.5] [--lookahead 900]

The week is the twin's (``nasa-week``: Mon 10 - Mon 17 July 1995); its peak is Thursday
13 July's morning (the STS-70 launch crowd on top of the weekday ramp). The ElasticScaler
(reactive on the load, 21 requests/minute per replica, plus the forecast) warms up on
Wednesday 12 July, a day of syncs on the compressed clock of tests/kube/headroom.py with the
Deployment's pods parked (nothing bought), then its pods are pointed at a Karpenter NodePool
(m6i.large / m6i.xlarge, 1.5 CPU per pod) and Thursday 06:00 - 10:00 is replayed, one
minute per ``--pace`` real seconds, while Karpenter, the scheduler and kwok run in real
time. Two runs, each in a fresh namespace with its nodes given back in between: headroom
off, then on (``lookaheadSeconds``). A real pod waited for a node when it was bound to a node
created after it, or never bound; its wait runs from its creation to its binding (the API's
whole-second stamps). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this folder's queue.py would shadow the standard library's queue, which anyio imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from lightkube import Client, KubeConfig  # noqa: E402
from lightkube.models.meta_v1 import ObjectMeta  # noqa: E402
from lightkube.resources.apps_v1 import Deployment  # noqa: E402
from lightkube.resources.core_v1 import Event, Namespace, Pod  # noqa: E402

from tests.kube.controllers.support import apply_crds  # noqa: E402
from tests.kube.headroom import CompressedController, PodRecord  # noqa: E402
from tests.kube.karpenter import KWOK_CLASS, apply, claims_of, clean_up, install  # noqa: E402
from tests.kube.kwok import wait_for  # noqa: E402
from tests.kube.test_karpenter_e2e import pending_workload  # noqa: E402
from tidewise.capacity.karpenter import NodePoolSpec, kwok_instance_types  # noqa: E402
from tidewise.capacity.karpenter.nodepools import node_pool  # noqa: E402
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings  # noqa: E402
from tidewise.catalog import builtin_catalog_path, load_catalog  # noqa: E402
from tidewise.kube.controllers.resources import ElasticScalerResource  # noqa: E402
from tidewise.model import Resources  # noqa: E402
from tidewise.sim.traces import GapPolicy, load_minute_trace  # noqa: E402
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402
from tidewise.testenv.karpenter import (  # noqa: E402
    ensure_karpenter,
    karpenter_process,
    write_instance_types,
)

NASA = ROOT.parent / "shared/data/nasa-http-1995/nasa_ksc_requests_per_minute.csv"
WARM_UP = datetime(1995, 7, 12, 4, 0, tzinfo=UTC)  # Wednesday 00:00 EDT
REPLAY = (datetime(1995, 7, 13, 10, 0, tzinfo=UTC), 240)  # Thursday 06:00 EDT, 4 hours
POOL = "bench-headroom"
TYPES = ["m6i.large", "m6i.xlarge"]
REQUESTS = Resources(cpu_milli=1500, memory_mib=1024)
PER_REPLICA = 21.0  # requests per minute one replica carries at its target (30 at 100 %)
PARKED = {"tidewise.io/e2e-parked": "true"}
SELECTOR = {"tidewise.io/node-pool": POOL}


def trace_load(path: Path):
    """Requests per minute at a clock instant (the previous minute's count, gaps held)."""
    trace = load_minute_trace(path)
    minutes = round((REPLAY[0] - WARM_UP).total_seconds() / 60) + REPLAY[1] + 1
    values = trace.window(WARM_UP.timestamp(), minutes, GapPolicy.PREVIOUS)

    def load(at: datetime) -> float:
        index = int((at - WARM_UP).total_seconds() // 60)
        return float(values[min(max(index, 0), len(values) - 1)])

    return load


def elastic_scaler(headroom: bool, lookahead_s: float) -> dict:
    query = "sum(rate(http_requests_total[1m])) * 60"
    metric = {
        "type": "External",
        "external": {
            "metric": {"name": "requests_per_minute", "query": query},
            "target": {"type": "AverageValue", "averageValue": f"{PER_REPLICA:g}"},
        },
    }
    predictive = {"enabled": True, "loadQuery": query, "replicaCapacity": PER_REPLICA / 0.7}
    predictive |= {"targetUtilization": 0.7, "startupSeconds": 60}
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 30,
        "metrics": [metric],
        "predictive": predictive,
        "headroom": {"enabled": headroom, "lookaheadSeconds": lookahead_s},
    }
    return {"metadata": {"name": "web"}, "spec": spec}


def run(kube, cluster, catalog, load, headroom: bool, pace_s: float, lookahead_s: float) -> dict:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    apply(
        kube,
        node_pool(
            NodePoolSpec(POOL, tuple(TYPES)),
            catalog.offerings,
            [],
            KWOK_CLASS,
            NodeAutoscalerSettings(),
        ),
    )
    kube.create(pending_workload("web", REQUESTS, PARKED, replicas=1), namespace=namespace)
    scaler = elastic_scaler(headroom, lookahead_s)
    kube.create(ElasticScalerResource(**scaler), namespace=namespace)
    controller = CompressedController(cluster, kube, namespace, WARM_UP, load)
    try:
        warm_up = round((REPLAY[0] - WARM_UP).total_seconds() / 60)
        began = time.monotonic()
        controller.advance(warm_up)
        warm_up_s = time.monotonic() - began
        selector = {**dict.fromkeys(PARKED), **SELECTOR}
        body = {"spec": {"template": {"spec": {"nodeSelector": selector}}}}
        kube.patch(Deployment, "web", body, namespace=namespace)
        controller.advance()  # the placeholders follow the template

        def settled() -> bool:
            pods = list(kube.list(Pod, namespace=namespace))
            return all(p.status.phase == "Running" for p in pods) and bool(pods)

        wait_for("the replay's start: every pod running", settled, deadline=300)
        claims_before = len(claims_of(kube, POOL))
        record = PodRecord(kube, namespace, {"app": "web"})
        record.poll()
        known = set(record.pods)
        held = []  # the placeholders the ElasticScaler's status reports, each minute
        for _ in range(REPLAY[1]):
            due = time.monotonic() + pace_s
            controller.advance()
            record.poll()
            status = kube.get(ElasticScalerResource, "web", namespace=namespace)["status"]
            held.append((status.get("headroom") or {}).get("placeholders", 0))
            time.sleep(max(due - time.monotonic(), 0.0))
        wait_for("the pods left bound", record.poll, deadline=120)
        for name in known:  # the pods of the replay's start are not part of it
            record.pods.pop(name, None)
        summary = record.summary()
        status = kube.get(ElasticScalerResource, "web", namespace=namespace)["status"]
        return summary | {
            "nodes_bought": len(claims_of(kube, POOL)) - claims_before,
            "replicas_at_end": status["desiredReplicas"],
            "placeholders_max": max(held),
            "placeholder_minutes": sum(held),
            "preempted": sum(
                1
                for e in kube.list(Event, namespace=namespace)
                if e.reason == "Preempted" and e.involvedObject.name.startswith("web-headroom-")
            ),
            "warm_up_wall_s": round(warm_up_s, 1),
        }
    finally:
        controller.close()
        clean_up(kube, namespace)  # before the ElasticScaler: its placeholders go with the rest
        kube.delete(ElasticScalerResource, "web", namespace=namespace)
        kube.delete(Namespace, namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, default=NASA)
    parser.add_argument("--pace", type=float, default=0.5, help="real seconds per minute")
    parser.add_argument("--lookahead", type=float, default=900.0, help="headroom, seconds")
    args = parser.parse_args()
    load = trace_load(args.trace)
    folder = Path(tempfile.mkdtemp(prefix="tidewise-bench-headroom-"))
    cluster = up(folder / "cluster", ensure_binaries(print), print)
    try:
        kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        apply_crds(kube)
        build = ensure_karpenter(print)
        install(kube, build)
        catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
        types = write_instance_types(
            folder / "instance-types.json", kwok_instance_types(catalog.offerings)
        )
        results = {}
        with karpenter_process(cluster, build, types):
            for mode, on in (("without_headroom", False), ("with_headroom", True)):
                results[mode] = run(kube, cluster, catalog, load, on, args.pace, args.lookahead)
                print(mode, json.dumps(results[mode]), file=sys.stderr, flush=True)
        print(
            json.dumps(
                {
                    "trace": str(args.trace),
                    "replay": f"1995-07-13 06:00-10:00 EDT, {REPLAY[1]} minutes",
                    "pace_s_per_minute": args.pace,
                    "lookahead_s": args.lookahead,
                    **results,
                },
                indent=2,
            )
        )
    finally:
        down(cluster.folder)


if __name__ == "__main__":
    main()
