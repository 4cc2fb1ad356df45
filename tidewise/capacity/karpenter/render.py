"""tidewise's capacity policy as Karpenter objects: NodePools and NodeOverlays, plain dicts.

The translation is pure (no I/O, no clock): the same policy renders the same objects, so
``tidewise karpenter render`` can show them and a controller can keep them current by
applying the render again. docs/karpenter.md says what comes from where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidewise.capacity.karpenter.nodepools import NodeClassRef, NodePoolSpec, node_pool
from tidewise.capacity.karpenter.overlays import (
    Commitment,
    commitment_overlays,
    gpu_share_overlays,
    spot_risk_overlays,
)
from tidewise.capacity.node_autoscaler import NodeAutoscalerSettings
from tidewise.capacity.reserved_base import floor_launches
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import Offering, WorkloadSpec


@dataclass(frozen=True)
class KarpenterPolicy:
    """Everything the render reads: the catalog's offerings, the pools, the workloads (for
    limits), the node class of the cloud provider, the twin's node autoscaler settings (for
    disruption), its spot weighting, and the commitments with how many covered run now."""

    offerings: tuple[Offering, ...]
    pools: tuple[NodePoolSpec, ...]
    workloads: tuple[WorkloadSpec, ...]
    node_class: NodeClassRef
    settings: NodeAutoscalerSettings
    spot_pools: SpotPoolRules = field(default_factory=SpotPoolRules)
    commitments: tuple[Commitment, ...] = ()
    commitments_in_use: Mapping[str, int] = field(default_factory=dict)


def floor_commitments(
    workloads: Sequence[WorkloadSpec], offerings: Sequence[Offering], discount: float
) -> tuple[Commitment, ...]:
    """The commitments the twin makes: reserved nodes for every base at minimum replicas
    (:func:`~tidewise.capacity.reserved_base.floor_launches`), per instance type."""
    counts: dict[str, int] = {}
    for launch in floor_launches(workloads, offerings):
        name = launch.offering.instance_type.name
        counts[name] = counts.get(name, 0) + launch.count
    return tuple(Commitment(name, counts[name], discount) for name in sorted(counts))


def render(policy: KarpenterPolicy) -> list[dict[str, Any]]:
    """NodePools first (in the policy's order), then the NodeOverlays: spot risk,
    commitments, GPU-share capacity, each over the instance types of the pools only."""
    pooled = {name for pool in policy.pools for name in pool.instance_types}
    offerings = [o for o in policy.offerings if o.instance_type.name in pooled]
    types = {o.instance_type.name: o.instance_type for o in offerings}
    return [
        *(
            node_pool(pool, offerings, policy.workloads, policy.node_class, policy.settings)
            for pool in policy.pools
        ),
        *spot_risk_overlays(offerings, policy.spot_pools),
        *commitment_overlays(policy.commitments, policy.commitments_in_use),
        *gpu_share_overlays(types.values()),
    ]
