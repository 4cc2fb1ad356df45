"""One GPU of a node, as the components that name GPUs see it: the device plugin (from NVML)
and the extender (from HAMi's node register annotation, ``api.hami``).

Why here: both need the same four facts, and a component may not import another; one record
for both keeps "GPU 2 of node n is GPU-…" said one way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gpu:
    index: int  # NVML's index (PCI bus order)
    uuid: str  # "GPU-..."; what NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES accept
    model: str
    memory_mib: int
