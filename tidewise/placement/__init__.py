"""Where each pod goes: the fit rule, the GPU-share engine and its policies (pure)."""

from tidewise.placement.cluster import GpuCluster
from tidewise.placement.fit import admits, choose_gpus, fit_on, pods_per_node, with_pod

__all__ = ["GpuCluster", "admits", "choose_gpus", "fit_on", "pods_per_node", "with_pod"]
