"""A stand-in for vLLM servers' ``/metrics``, for the serving e2e tests: vLLM's metric names,
types and labels (``model_name``), plus the ``namespace`` and ``pod`` labels Prometheus'
Kubernetes service discovery puts on a pod's series.

Served in the classic text format (0.0.4) whatever the scraper asks: prometheus_client's
own server answers Prometheus' OpenMetrics ``Accept`` with the names' colons escaped
(``vllm_num_requests_waiting``), which would not be vLLM's series."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# vLLM's buckets for vllm:time_to_first_token_seconds (vllm/v1/metrics/loggers.py)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5)
TTFT_BUCKETS += (5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
LABELS = ("model_name", "namespace", "pod")


class VllmExporter:
    def __init__(self, model: str, namespace: str) -> None:
        self.model, self.namespace = model, namespace
        self.registry = registry = CollectorRegistry()
        self.waiting = Gauge(
            "vllm:num_requests_waiting", "Requests waiting.", LABELS, registry=registry
        )
        self.running = Gauge(
            "vllm:num_requests_running", "Requests running.", LABELS, registry=registry
        )
        self.kv_cache = Gauge(
            "vllm:kv_cache_usage_perc", "KV-cache usage, 1 is 100 %.", LABELS, registry=registry
        )
        self.gpu_cache = Gauge(  # the name before vllm-project/vllm#18354
            "vllm:gpu_cache_usage_perc", "GPU KV-cache usage.", LABELS, registry=registry
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Time to first token.",
            LABELS,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.generated = Counter(
            "vllm:generation_tokens", "Generation tokens.", LABELS, registry=registry
        )

    def labels(self, pod: str) -> dict[str, str]:
        return {"model_name": self.model, "namespace": self.namespace, "pod": pod}

    def serve(self, pod: str, waiting: int, running: int = 0) -> None:
        """What one server reports now (the queue a buffering front holds, at zero); its
        TTFT histogram is there from the start, as vLLM's is, so a rate sees the first
        observations."""
        self.waiting.labels(**self.labels(pod)).set(waiting)
        self.running.labels(**self.labels(pod)).set(running)
        self.ttft.labels(**self.labels(pod))


@contextmanager
def serving(exporter: VllmExporter) -> Iterator[str]:
    """The exporter on a free local port; yields its ``host:port``."""
    registry = exporter.registry

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
