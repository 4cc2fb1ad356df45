"""The provisioner's Prometheus metrics, in the registry of the process that serves them
(the operator's ``/metrics``; a bare ``provisioner run`` keeps them to itself).
deploy/grafana/controllers.json and deploy/prometheus query these names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ProvisionerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.launch_failures = Counter(
            "tidewise_launch_failures",
            "Launches that failed (reason=error: the provider refused or the machine's "
            "registration failed; timeout: not Ready within the boot bound), by offering.",
            ["offering", "reason"],
            registry=registry,
        )
        self.evictions = Counter(
            "tidewise_evictions",
            "Pods a drain asked to evict (evicted; refused: a disruption budget said no) or "
            "deleted at a forced drain's deadline.",
            ["outcome"],
            registry=registry,
        )
        self.drains = Counter(
            "tidewise_drains",
            "Drains ended: drained, forced (deadline passed, the rest deleted), aborted (a "
            "voluntary drain gave up) or gone (no Node to drain).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("evicted", "refused", "deleted"):
            self.evictions.labels(outcome=outcome)
        for outcome in ("drained", "forced", "aborted", "gone"):
            self.drains.labels(outcome=outcome)
        self.backed_off = Gauge(
            "tidewise_offerings_backed_off",
            "Offerings not bought now because a launch of theirs failed recently.",
            registry=registry,
        )
