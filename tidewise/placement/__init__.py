"""Where each pod goes: fit rules and scheduling policies (pure)."""

from tidewise.placement.best_fit import best_fit
from tidewise.placement.fit import choose_gpus, fit_on, pods_per_node, tolerates, with_pod

__all__ = ["best_fit", "choose_gpus", "fit_on", "pods_per_node", "tolerates", "with_pod"]
