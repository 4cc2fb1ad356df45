"""Where each pod goes: fit rules, the GPU-share engine and its policies (pure)."""

from tidewise.placement.fit import choose_gpus, fit_on, pods_per_node, tolerates, with_pod

__all__ = ["choose_gpus", "fit_on", "pods_per_node", "tolerates", "with_pod"]
