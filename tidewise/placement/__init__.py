"""Where each pod goes: fit rules and scheduling policies (pure)."""

from tidewise.placement.fit import choose_gpus, fit_on, pods_per_node, tolerates, with_pod
from tidewise.placement.table import NodeTable, best_fit

__all__ = [
    "NodeTable",
    "best_fit",
    "choose_gpus",
    "fit_on",
    "pods_per_node",
    "tolerates",
    "with_pod",
]
