"""Well-known node labels that say what a node is and how it was bought: Kubernetes'
(``node.kubernetes.io/instance-type``, ``topology.kubernetes.io/zone``) and Karpenter's
capacity type (``karpenter.sh/capacity-type``: ``spot``, ``on-demand`` or ``reserved``),
which tidewise's own provisioner writes too. The provisioner labels nodes with them and the
cost reader prices nodes by them; and the taint that marks a virtual node."""

from collections.abc import Mapping
from typing import Any

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
CAPACITY_TYPE = "karpenter.sh/capacity-type"

VIRTUAL_NODE_TAINT = "virtual-kubelet.io/provider"
"""The taint of a virtual node (virtual-kubelet, Alibaba ECI's virtual node, AWS Fargate's
virtual-kubelet provider): no pod lands there unless it tolerates it. Such a node is no
machine: its pods are serverless containers, each billed per second for its own requests
(docs/serverless-burst.md)."""


def is_virtual(node: Mapping[str, Any]) -> bool:
    """Whether ``node`` (read as a dict) is a virtual node: it carries the virtual-kubelet
    taint (the label ``type: virtual-kubelet`` usually goes with it, but the taint is what
    keeps pods off and is the one every provider sets)."""
    taints = (node.get("spec") or {}).get("taints") or []
    return any(t.get("key") == VIRTUAL_NODE_TAINT for t in taints)
