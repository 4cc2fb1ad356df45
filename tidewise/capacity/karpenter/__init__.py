"""tidewise's capacity policy for Karpenter: the instance types its kwok provider buys from,
and the NodePools and NodeOverlays that steer it (pure data in, plain dicts out)."""

from tidewise.capacity.karpenter.instance_types import kwok_instance_types
from tidewise.capacity.karpenter.nodepools import NodeClassRef, NodePoolSpec
from tidewise.capacity.karpenter.overlays import Commitment
from tidewise.capacity.karpenter.render import KarpenterPolicy, floor_commitments, render

__all__ = [
    "Commitment",
    "KarpenterPolicy",
    "NodeClassRef",
    "NodePoolSpec",
    "floor_commitments",
    "kwok_instance_types",
    "render",
]
