"""Capacity held ahead of a forecast peak: how many placeholder pods to keep.

Replicas asked for now are only useful once they run, and a replica that needs a new node
waits for the node to be bought and to start before its own start-up begins. The standard
Kubernetes answer is over-provisioning: low-priority placeholder pods shaped like the
service's pods, which make the node autoscaler (Karpenter, the cluster-autoscaler) buy nodes
while nothing needs them yet, and which the scheduler preempts the moment a real pod needs
the room (Kubernetes docs, "Overprovision Node Capacity For A Cluster" and "Pod Priority and
Preemption"; the cluster-autoscaler FAQ, "How can I configure overprovisioning").

The rule here sizes that buffer from the forecast: the replicas the forecast asks for at the
end of ``lookahead_s`` (the node start-up plus the service's own start-up), less the replicas
the service has now, never negative, at most ``max_placeholders``. Before the peak the
buffer grows; when the replicas are raised, the new pods take the room from the placeholders
by preemption (the scheduler evicts just enough of them, on nodes that already exist), and
the next count is smaller by as many; after the peak the forecast falls below the replicas
and it is empty. Counting against the replicas decided in the same step instead would
shrink the placeholders while the new pods are being created, and their room would be
handed over by a race between two ReplicaSets rather than by the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Headroom:
    """Placeholder pods held for the forecast ``lookahead_s`` ahead, at most
    ``max_placeholders`` of them."""

    lookahead_s: float
    max_placeholders: int

    def __post_init__(self) -> None:
        if self.lookahead_s <= 0:
            raise ValueError("lookahead_s must be > 0")
        if self.max_placeholders < 0:
            raise ValueError("max_placeholders must be >= 0")

    def placeholders(self, forecast_replicas: int | None, replicas: int) -> int:
        """Placeholders for ``forecast_replicas`` (None: no forecast yet, so none) when the
        service has ``replicas`` now."""
        if forecast_replicas is None:
            return 0
        return min(max(forecast_replicas - replicas, 0), self.max_placeholders)
