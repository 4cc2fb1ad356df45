"""The ElasticScaler on vLLM's queue against a real control plane and a real Prometheus: the
seconds from a queue building up in front of a predictor at zero to the scale-up, and from
the queue draining to the predictor back at zero.

    PYTHONPATH=. python bench/serving_controller.py [--cycles 6]

Starts a throw-away cluster (tidewise.testenv, cached binaries), applies deploy/crds and
KServe's InferenceService CRD, makes an InferenceService in raw-deployment mode and its
predictor Deployment as KServe does, runs Debian's Prometheus scraping a vLLM stand-in
exporter every second, and ``tidewise operator --elastic-period 1`` as the shipped
ServiceAccount. An ElasticScaler (``vllm.waitingRequests: 5``, minReplicas 0, no
stabilisation) scales the predictor; each cycle sets the queue to 12 (3 replicas' worth) at
zero replicas, then to 0. The times run from setting the exporter's gauge to the
Deployment's ``spec.replicas`` change, polled every 50 ms, so they include a scrape (1 s)
and a sync (1 s). Prints JSON.
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

from tests.kube.controllers.serving import (  # noqa: E402
    KSERVE_CRD,
    VllmExporter,
    elastic_scaler,
    inference_service,
    predictor_deployment,
    serving,
)
from tests.kube.controllers.support import (  # noqa: E402
    OperatorProcess,
    ReplicaRecorder,
    apply_crds,
)
from tests.kube.kwok import apply_crd_file, wait_for  # noqa: E402
from tidewise.testenv import down, ensure_binaries, up  # noqa: E402
from tidewise.testenv.prometheus import find_prometheus, prometheus_process  # noqa: E402

POD = "chat-predictor-0"
QUEUE = 12  # 3 replicas' worth at 5 waiting per replica


def step(vllm: VllmExporter, seen: ReplicaRecorder, waiting: int, replicas: int) -> float:
    """Set the queue; the seconds until the predictor had ``replicas``."""
    at = time.time()
    vllm.serve(POD, waiting=waiting)
    wait_for(f"{replicas} replicas", lambda: seen.first_time_at(replicas, at) is not None, 60)
    reached = seen.first_time_at(replicas, at)
    assert reached is not None
    return reached - at


def cycles(kube: Client, namespace: str, vllm: VllmExporter, count: int) -> dict[str, list]:
    isvc = inference_service(kube, namespace, "chat", "RawDeployment")
    kube.create(predictor_deployment(isvc, 1), namespace=namespace)
    up_s, down_s = [], []
    with ReplicaRecorder(kube, "chat-predictor", namespace) as seen:
        wait_for("the recorder's first look", lambda: bool(seen.changes))
        kube.create(elastic_scaler("chat", low=0, ttft=False), namespace=namespace)
        wait_for("the idle predictor at zero", lambda: seen.current() == 0, deadline=60)
        for _ in range(count):
            time.sleep(2.5)  # off the sync's phase
            up_s.append(step(vllm, seen, QUEUE, 3))
            time.sleep(2.5)
            down_s.append(step(vllm, seen, 0, 0))
    return {"queue_to_scale_up_s": up_s, "drain_to_zero_s": down_s}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values),
        "max": max(values),
        "min": min(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=6)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidewise-bench-serving-"))
    cluster = up(folder / "cluster", ensure_binaries(print), print)
    try:
        kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench")
        apply_crds(kube)
        apply_crd_file(kube, KSERVE_CRD)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
        binaries = find_prometheus()
        if binaries is None:
            raise SystemExit("prometheus/promtool are missing: run `make debs`")
        vllm = VllmExporter("chat", namespace)
        vllm.serve(POD, waiting=0)
        with (
            serving(vllm) as address,
            prometheus_process(binaries, folder / "prometheus", [address]) as prometheus,
        ):
            options = ["--elastic-period", "1", "--prometheus-url", prometheus.url]
            operator = OperatorProcess(cluster, kube, namespace, options)
            with operator.stack:
                operator.start()
                measured = cycles(kube, namespace, vllm, args.cycles)
        result = {
            "scrape_interval_s": 1,
            "elastic_period_s": 1,
            **{name: summary(values) for name, values in measured.items()},
        }
        print(json.dumps(result, indent=2))
    finally:
        down(cluster.folder)


if __name__ == "__main__":
    main()
