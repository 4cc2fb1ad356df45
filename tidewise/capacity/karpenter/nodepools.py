"""NodePools: which machines Karpenter may buy for each of tidewise's node pools, how many,
and how fast it may take them away.

* **What.** The pool's instance types, in the catalog's zones, as spot or on-demand (the
  capacity the twin's ``tidewise`` policy buys; reserved is a discount on on-demand, see
  :mod:`tidewise.capacity.karpenter.overlays`).
* **How many** (``spec.limits.nodes``): one node per replica of every workload the pool can
  host, at its maximum replicas. A tighter bound from the twin's packing would assume the
  whole node is allocatable, which Karpenter's per-node reservations make untrue, and a
  limit that binds before the scenario's peak is worse than a loose one. A workload that
  fits several pools counts in each, since either may end up hosting it.
* **How fast they go** (``spec.disruption``): the twin's node autoscaler settings. A node
  unneeded for ``unneeded_s`` may go (``consolidateAfter``); empty nodes go up to
  ``max_empty_bulk`` at a time, non-empty ones one at a time, as cluster-autoscaler does and
  the twin copies (``budgets`` with ``reasons``, karpenter.sh/docs/concepts/disruption).
  Each workload's PodDisruptionBudget still bounds every drain: Karpenter honours PDBs.
* **Which pool first** (``spec.weight``): Karpenter tries NodePools one after another and
  takes the first that can host a pod, not the cheapest; equal weights go in reverse
  alphabetical order (``OrderByWeight``, ``pkg/utils/nodepool/nodepool.go`` in v1.12.0), so a
  pool named ``gpu`` came before ``general`` and CPU pods bought GPU machines
  (bench/karpenter_burst.py found it). Pools without a GPU type carry a higher weight: CPU
  pods go to CPU machines and GPU pods, which no CPU pool can host, to the GPU pools, as the
  twin keeps CPU pods off GPU nodes (``CPU_PODS_ON_GPU_NODES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidewise.capacity.karpenter.instance_types import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    KARPENTER_OPTIONS,
    ZONE,
    requirement,
)
from tidewise.capacity.karpenter.overlays import MANAGED_BY
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.model import Offering, WorkloadSpec
from tidewise.placement.fit import pods_per_node
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES

NODEPOOL_API = "karpenter.sh/v1"
POOL_LABEL = "tidewise.io/node-pool"
CPU_POOL_WEIGHT = 10
"""The weight of a pool without GPU types (GPU pools carry none: 0), so Karpenter tries it
first."""


@dataclass(frozen=True, slots=True)
class NodePoolSpec:
    """A pool of tidewise's capacity policy: a name and the instance types it may buy."""

    name: str
    instance_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeClassRef:
    """The cloud provider's node class every NodePool points at (``group/kind/name``)."""

    group: str
    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> NodeClassRef:
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(
                f"node class {text!r}: give GROUP/KIND/NAME, "
                "e.g. karpenter.k8s.aws/EC2NodeClass/default"
            )
        return cls(*parts)


def duration(seconds: float) -> str:
    """Seconds as a Go duration Karpenter's schema accepts (``"180s"``)."""
    return f"{round(seconds)}s"


def pool_limits(
    pool: NodePoolSpec, offerings: Sequence[Offering], workloads: Sequence[WorkloadSpec]
) -> dict[str, str]:
    """At most one node per replica of every workload the pool can host, each at its maximum
    replicas (empty when it hosts none): a bound that never stops the scenario's largest
    fleet, whatever Karpenter reserves on each node, yet stops a runaway."""
    mine = [
        o.instance_type.capacity
        for o in offerings
        if o.instance_type.name in pool.instance_types and o.option in KARPENTER_OPTIONS
    ]
    hosted = sum(
        w.max_replicas
        for w in workloads
        if any(
            pods_per_node(c, w.requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES) for c in mine
        )
    )
    return {"nodes": str(hosted)} if hosted else {}


def node_pool(
    pool: NodePoolSpec,
    offerings: Sequence[Offering],
    workloads: Sequence[WorkloadSpec],
    node_class: NodeClassRef,
    settings: NodeAutoscalerSettings,
) -> dict[str, Any]:
    zones = sorted({o.zone for o in offerings if o.instance_type.name in pool.instance_types})
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {POOL_LABEL: pool.name}},
            "spec": {
                "nodeClassRef": {
                    "group": node_class.group,
                    "kind": node_class.kind,
                    "name": node_class.name,
                },
                "requirements": [
                    requirement(INSTANCE_TYPE, *sorted(pool.instance_types)),
                    requirement(CAPACITY_TYPE, *(o.value for o in KARPENTER_OPTIONS)),
                    requirement(ZONE, *zones),
                ],
            },
        },
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": duration(settings.unneeded_s),
            "budgets": [
                {"nodes": str(settings.max_empty_bulk), "reasons": ["Empty"]},
                {"nodes": "1", "reasons": ["Underutilized", "Drifted"]},
            ],
        },
    }
    limits = pool_limits(pool, offerings, workloads)
    if limits:
        spec["limits"] = limits
    if not any(
        o.instance_type.gpu_count for o in offerings if o.instance_type.name in pool.instance_types
    ):
        spec["weight"] = CPU_POOL_WEIGHT
    return {
        "apiVersion": NODEPOOL_API,
        "kind": "NodePool",
        "metadata": {"name": pool.name, "labels": dict(MANAGED_BY)},
        "spec": spec,
    }
