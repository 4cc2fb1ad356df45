"""Prometheus metrics of ``tidewise fleet watch``, read off the events it prints.

The loop reports everything it does as events (docs/traffic.md); the metrics are those
events counted and held, so the loop knows nothing of Prometheus and what ``/metrics`` says
can never disagree with the event log. ``watch --metrics-port`` serves them; docs/traffic.md
lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ERROR_KINDS = ("gateway", "run-file", "probe", "degrade", "internal")
APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WatchMetrics:
    """The watch's state and history as Prometheus series, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.weight = Gauge(
            "tidewise_fleet_weight",
            "Weight the watch decided for each cluster: what the gateway should carry.",
            ["cluster"],
            registry=r,
        )
        self.desired = Gauge(
            "tidewise_fleet_desired_weight",
            "Each cluster's weight when healthy (the traffic file's).",
            ["cluster"],
            registry=r,
        )
        self.admitted = Gauge(
            "tidewise_fleet_admitted_ratio",
            "Share of its desired weight each cluster may carry now: 1 all, 0 taken out.",
            ["cluster"],
            registry=r,
        )
        self.healthy = Gauge(
            "tidewise_fleet_cluster_healthy",
            "1 when the cluster's latest health probe (of a weight change) passed.",
            ["cluster"],
            registry=r,
        )
        self.engaged = Gauge(
            "tidewise_fleet_failover_engaged",
            "1 while some cluster carries less than its desired weight (out or climbing back).",
            registry=r,
        )
        self.errors = Counter(
            "tidewise_fleet_errors",
            "Errors the watch met and outlived, by kind: gateway, run-file, probe, degrade, "
            "internal.",
            ["kind"],
            registry=r,
        )
        self.apply_seconds = Histogram(
            "tidewise_fleet_apply_seconds",
            "Seconds to set one set of weights at the gateway: a failover, recovery or repair "
            "step.",
            buckets=APPLY_BUCKETS,
            registry=r,
        )
        self.drifts = Counter(
            "tidewise_fleet_drift_repairs",
            "Times the gateway was found off the decided weights and put back.",
            registry=r,
        )
        for kind in ERROR_KINDS:  # every series exists from the start, so rate() sees a 0
            self.errors.labels(kind=kind)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Fold one event of the watch into the series."""
        kind = event.get("event")
        if kind == "started":
            for cluster, weight in event.get("desired", {}).items():
                self.desired.labels(cluster=cluster).set(weight)
        elif kind == "weights":
            for cluster, weight in event["weights"].items():
                self.weight.labels(cluster=cluster).set(weight)
            for cluster, ok in event.get("healthy", {}).items():
                self.healthy.labels(cluster=cluster).set(1 if ok else 0)
            for cluster, percent in event.get("admitted", {}).items():
                self.admitted.labels(cluster=cluster).set(percent / 100)
            self.engaged.set(1 if event.get("engaged") else 0)
        elif kind == "applied":
            self.apply_seconds.observe(event["seconds"])
        elif kind == "drift":
            self.drifts.inc()
        elif kind == "error":
            self.errors.labels(kind=event.get("kind", "internal")).inc()
        elif kind == "degrade" and "error" in event:  # the API refused the scaling
            self.errors.labels(kind="degrade").inc()
