"""The controllers' Prometheus metrics, registered into the operator's registry so they are
served on its ``/metrics``. deploy/grafana/controllers.json queries exactly these names
(tests/kube/test_alerts.py checks it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CONTROLLERS = ("cronhpa", "elasticscaler", "resourcerecommendation", "queue")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELAY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0)


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "tidewise_controller_decisions",
            "Actions written (a /scale or an HPA, requests on a rollout, a job admitted or "
            "preempted), by the rule that chose them.",
            ["controller", "rule"],
            registry=registry,
        )
        self.errors = Counter(
            "tidewise_controller_errors",
            "Objects a reconcile could not carry out (bad spec, API or metric errors).",
            ["controller", "reason"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "tidewise_controller_reconcile_seconds",
            "Seconds one reconcile of one object took.",
            ["controller"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.objects = Gauge(
            "tidewise_controller_objects",
            "Objects the controller watches.",
            ["controller"],
            registry=registry,
        )
        self.cron_delay_seconds = Histogram(
            "tidewise_cronhpa_fire_delay_seconds",
            "Seconds from a job's scheduled instant to its scale write.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.desired_replicas = Gauge(
            "tidewise_elasticscaler_desired_replicas",
            "The replicas an ElasticScaler last decided.",
            ["namespace", "name"],
            registry=registry,
        )
        for controller in CONTROLLERS:
            self.reconcile_seconds.labels(controller=controller)
            self.objects.labels(controller=controller)
