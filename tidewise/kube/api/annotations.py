"""The annotations that record on a pod which GPUs it holds, as gpushare writes them.

Why gpushare's: its device plugin (and the tools around it, such as ``kubectl inspect
gpushare``) already read them, and they are the extender's only memory: on start it rebuilds
its books from them, so a restart loses nothing.

Names and formats from AliyunContainerService/gpushare-scheduler-extender
``pkg/utils/const.go`` and ``pkg/utils/pod.go`` (``PatchPodAnnotationSpec``): the GPU index,
the pod's GPU memory and the device's (both in GiB, the unit of ``aliyun.com/gpu-mem``), the
device plugin's "assigned" flag (false until its Allocate ran) and the assume time in Unix
nanoseconds. gpushare places a pod on one GPU only; a pod holding several whole GPUs gets
their indices comma-separated (``0,1``), which gpushare itself never writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidewise.model import Resources

GPU_INDEX = "ALIYUN_COM_GPU_MEM_IDX"
POD_GPU_MEMORY = "ALIYUN_COM_GPU_MEM_POD"
DEVICE_GPU_MEMORY = "ALIYUN_COM_GPU_MEM_DEV"
ASSIGNED = "ALIYUN_COM_GPU_MEM_ASSIGNED"
ASSUME_TIME = "ALIYUN_COM_GPU_MEM_ASSUME_TIME"


def _gib(mib: int) -> int:
    return -(-mib // 1024)


def gpu_annotations(
    requests: Resources, gpus: Sequence[int], device_memory_mib: int, now_ns: int
) -> dict[str, str]:
    """What bind writes on the pod before it creates the Binding."""
    return {
        GPU_INDEX: ",".join(str(g) for g in gpus),
        POD_GPU_MEMORY: str(_gib(requests.gpu_memory_mib * max(requests.gpu_devices, 1))),
        DEVICE_GPU_MEMORY: str(_gib(device_memory_mib)),
        ASSIGNED: "false",
        ASSUME_TIME: str(now_ns),
    }


def recorded_gpus(pod: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The GPU indices recorded on the pod, ``None`` if none (or unreadable) are."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(GPU_INDEX)
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        return None
