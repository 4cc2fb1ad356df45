"""The controllers against a real control plane: CronHPA firing delay, ElasticScaler reaction
time to a metric step, and reconcile latency.

    PYTHONPATH=. python bench/controllers.py [--firings 20] [--steps 6]

Starts a throw-away cluster (tidewise.testenv, cached binaries), applies deploy/crds,
runs Debian's Prometheus scraping a gauge every second and ``tidewise operator`` with
``--cron-period 1 --elastic-period 1``. A CronHPA alternates a Deployment between 3 and 1
replicas every 2 s (jobs on even seconds); the delay is the time from the scheduled second to
the Deployment's ``spec.replicas`` change, polled every 50 ms (so up to 50 ms late). An
ElasticScaler on the gauge (no stabilisation, no rate limit) sees the gauge stepped between
2 and 6 replicas' worth; the reaction time is from the step to the replica change, and
includes Prometheus' 1 s scrape and the 1 s sync. Reconcile latency per object comes from
the operator's histogram. Prints JSON.
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
from lightkube.resources.core_v1 import Namespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kube.controllers.support import (  # noqa: E402
    OperatorProcess,
    ReplicaRecorder,
    apply_crds,
    parked_deployment,
    running_prometheus,
)
from tests.kube.kwok import wait_for  # noqa: E402
from tidewise.kube.controllers.resources import CronHpa, ElasticScalerResource  # noqa: E402
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def histogram_quantiles(text: str, name: str, controller: str) -> dict[str, float]:
    """p50 and p99 of a Prometheus histogram as the upper bound of the bucket holding them."""
    buckets = []
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith(f'{name}_bucket{{controller="{controller}"'):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float(bound), float(line.split()[-1])))
        elif line.startswith(f'{name}_count{{controller="{controller}"}}'):
            count = float(line.split()[-1])
        elif line.startswith(f'{name}_sum{{controller="{controller}"}}'):
            total = float(line.split()[-1])
    answer = {"count": count, "mean_s": total / count if count else float("nan")}
    for q in (0.5, 0.99):
        answer[f"p{round(q * 100)}_le_s"] = next(b for b, c in buckets if c >= q * count)
    return answer


def cron_delays(kube: Client, namespace: str, firings: int) -> list[float]:
    kube.create(parked_deployment("cron-web", 1), namespace=namespace)
    jobs = [
        {"name": "up", "schedule": "0/4 * * * * *", "targetSize": 3},
        {"name": "down", "schedule": "2/4 * * * * *", "targetSize": 1},
    ]
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cron-web"}
    body = CronHpa(metadata={"name": "alternate"}, spec={"scaleTargetRef": ref, "jobs": jobs})
    with ReplicaRecorder(kube, "cron-web", namespace) as seen:
        kube.create(body, namespace=namespace)
        wait_for("the firings", lambda: len(seen.changes) > firings, deadline=4 * firings + 60)
    kube.delete(CronHpa, "alternate", namespace=namespace)
    # every change after the first reading is one firing, due on the even second before it
    return [at - 2 * (at // 2) for at, _ in seen.changes[1:]]


def elastic_reactions(kube: Client, namespace: str, prometheus, steps: int) -> list[float]:
    kube.create(parked_deployment("elastic-web", 2), namespace=namespace)
    metric = {
        "type": "External",
        "external": {
            "metric": {"name": "queue", "query": "sum(e2e_queue_depth)"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    fast = {"stabilizationWindowSeconds": 0}
    fast["policies"] = [{"type": "Pods", "value": 10, "periodSeconds": 1}]
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "elastic-web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [metric],
        "behavior": {"scaleUp": fast, "scaleDown": fast},
    }
    prometheus.gauge.set(20)
    kube.create(ElasticScalerResource(metadata={"name": "queue"}, spec=spec), namespace=namespace)
    reactions = []
    with ReplicaRecorder(kube, "elastic-web", namespace) as seen:
        wait_for("the first decision", lambda: seen.current() == 2)
        for step in range(steps):
            want = 6 if step % 2 == 0 else 2
            time.sleep(2.5)  # off the sync's phase
            stepped = time.time()
            prometheus.gauge.set(want * 10)
            wait_for(f"{want} replicas", lambda want=want: seen.current() == want, deadline=60)
            reactions.append(seen.first_time_at(want, stepped) - stepped)
    return reactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firings", type=int, default=20)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidewise-bench-controllers-"))
    cluster = up(folder / "cluster", ensure_binaries(print), print)
    try:
        kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        apply_crds(kube)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
        (folder / "prometheus").mkdir()
        with running_prometheus(folder / "prometheus") as prometheus:
            extra = ["--cron-period", "1", "--elastic-period", "1"]
            operator = OperatorProcess(
                cluster, kube, namespace, [*extra, "--prometheus-url", prometheus.url]
            )
            with operator.stack:
                operator.start()
                delays = cron_delays(kube, namespace, args.firings)
                reactions = elastic_reactions(kube, namespace, prometheus, args.steps)
                text = operator.metrics()
        result = {
            "cron_delay_s": {
                "n": len(delays),
                "p50": quantile(delays, 0.5),
                "p99": quantile(delays, 0.99),
                "max": max(delays),
            },
            "elastic_reaction_s": {
                "n": len(reactions),
                "p50": quantile(reactions, 0.5),
                "max": max(reactions),
                "mean": statistics.mean(reactions),
            },
            "reconcile": {
                c: histogram_quantiles(text, "tidewise_controller_reconcile_seconds", c)
                for c in ("cronhpa", "elasticscaler")
            },
        }
        print(json.dumps(result, indent=2))
    finally:
        down(cluster.folder)


if __name__ == "__main__":
    main()
