"""How many nodes of which offering (pure policies)."""

from tidewise.capacity.fixed import FixedCapacity
from tidewise.capacity.node_autoscaler import NodeAutoscaler, NodeAutoscalerSettings
from tidewise.capacity.provisioning import cheapest_offering, plan_launches

__all__ = [
    "FixedCapacity",
    "NodeAutoscaler",
    "NodeAutoscalerSettings",
    "cheapest_offering",
    "plan_launches",
]
