"""What the device plugin reads of the GPU-share extender's decisions: the one place where
the two meet.

The extender records the GPUs it bound a pod to in gpushare's annotation
(``ALIYUN_COM_GPU_MEM_IDX``: comma-separated GPU indices on the node, see
``tidewise/kube/api/annotations.py``) and sizes pods by the resource names of
``tidewise/kube/api/resources.py``, the runtime layer every component shares. The plugin
imports those names (and the Kubernetes quantity reader) from there, and only here, so that a
change of the contract is one import to follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidewise.kube.api.annotations import ASSUME_TIME, GPU_INDEX
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    NVIDIA_GPU,
    quantity,
    share_limits,
)

__all__ = [
    "ASSUME_TIME",
    "GPU_COUNT",
    "GPU_INDEX",
    "GPU_MEM",
    "HAMI_GPU_CORES",
    "HAMI_GPU_MEM",
    "NVIDIA_GPU",
    "container_requests",
    "pod_name",
    "share_limits",
]


def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    """The container's whole-number requests (limits when no request: the API server's
    default; extended resources must be whole and have requests equal to limits)."""
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: int(quantity(value)) for name, value in merged.items()}


def pod_name(pod: Mapping[str, Any]) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
