"""Voluntary disruption: which nodes may be drained now without breaking a service's promise.

Kubernetes' rule for a PodDisruptionBudget is that an eviction is allowed while the healthy
(Ready) pods stay at or above ``desired - maxUnavailable``; a pod that is not Ready does not
count, so evicting it costs nothing. Karpenter's ``karpenter.sh/do-not-disrupt`` takes a pod's
node out of voluntary disruption altogether, for a workload's pods or for one pod
(``Pod.do_not_disrupt``, as the Kubernetes adapter reads it). Consolidation, scale-down of
non-empty nodes and moving pods back from serverless all go through one ``DisruptionBudget``
per decision round, so several drains in one round share the allowance. Interruptions and
failures are not voluntary and ignore it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tidewise.model import ClusterView, Node, Pod, PodPhase

UNLIMITED = 1 << 30


@dataclass
class DisruptionBudget:
    """What each workload can still lose to voluntary evictions in this round."""

    allowed: dict[str, int]
    protected: frozenset[str]  # workloads whose nodes are never drained voluntarily
    pods_by_node: dict[str, list[Pod]] = field(default_factory=dict)

    @classmethod
    def of(cls, view: ClusterView) -> DisruptionBudget:
        allowed = {}
        for status in view.workloads:
            limit = status.spec.rules.max_unavailable
            healthy_floor = status.desired - (UNLIMITED if limit is None else limit)
            allowed[status.spec.name] = max(status.ready - healthy_floor, 0)
        protected = frozenset(s.spec.name for s in view.workloads if s.spec.rules.do_not_disrupt)
        pods_by_node: dict[str, list[Pod]] = {}
        for pod in view.pods:
            if pod.node is not None:
                pods_by_node.setdefault(pod.node, []).append(pod)
        return cls(allowed, protected, pods_by_node)

    def pods_on(self, node: Node) -> list[Pod]:
        return self.pods_by_node.get(node.name, [])

    def evictions(self, node: Node) -> Counter[str]:
        """Healthy pods per workload that draining ``node`` would take away."""
        return Counter(p.workload for p in self.pods_on(node) if p.phase is PodPhase.RUNNING)

    def permits(self, node: Node) -> bool:
        if any(p.do_not_disrupt or p.workload in self.protected for p in self.pods_on(node)):
            return False
        return all(self.allowed.get(w, UNLIMITED) >= n for w, n in self.evictions(node).items())

    def take(self, node: Node) -> bool:
        """Reserve the evictions of draining ``node`` if the budgets permit them."""
        if not self.permits(node):
            return False
        for workload, n in self.evictions(node).items():
            if workload in self.allowed:
                self.allowed[workload] -= n
        return True
