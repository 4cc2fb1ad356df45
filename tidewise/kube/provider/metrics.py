"""The provisioner's Prometheus metrics, in the registry of the process that serves them
(the operator's ``/metrics``; a bare ``provisioner run`` keeps them to itself).
deploy/grafana/controllers.json and deploy/prometheus query these names."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from tidewise.kube.provider.interface import Instance
from tidewise.model import ClusterView


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
        self.pending = Gauge(
            "tidewise_pending_pods",
            "Pods the scheduler found no node for and this provisioner could serve.",
            registry=registry,
        )
        self.oldest_pending = Gauge(
            "tidewise_oldest_pending_pod_seconds",
            "Age of the oldest such pod, from its creation (0: none pending).",
            registry=registry,
        )
        self.cost = Gauge(
            "tidewise_nodes_usd_per_hour",
            "Hourly price of every machine this provisioner holds (booting and draining "
            "ones included: they are billed).",
            registry=registry,
        )
        self.budget = Gauge(
            "tidewise_budget_usd_per_hour",
            "The hourly budget of provisioner.budget_usd_per_hour (0: none set); alerting "
            "compares tidewise_nodes_usd_per_hour with it.",
            registry=registry,
        )

    def observe(self, view: ClusterView, held: Sequence[Instance]) -> None:
        """What one round saw: the pods waiting for a node, and what the machines cost.
        Only the leader's rounds set these; alerts read them where ``tidewise_leader`` is 1,
        since a replica that stopped leading keeps its last values."""
        pending = view.pending_pods()
        self.pending.set(len(pending))
        self.oldest_pending.set(max((view.time_s - p.created_s for p in pending), default=0.0))
        self.cost.set(sum(i.offering.price_per_hour for i in held))
