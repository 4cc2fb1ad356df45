"""The devices each resource advertises to the kubelet, and the ones it prefers to hand out.

A device plugin counts in devices: a pod asking ``nvidia.com/gpumem: 4096`` is given 4,096 of
them. So each resource advertises, per GPU, one device per unit (gpushare's fake devices,
research notes §3.1): one per GiB of ``aliyun.com/gpu-mem``, one per MiB of
``nvidia.com/gpumem``, 100 of ``nvidia.com/gpucores`` (percent), ``split`` of
``nvidia.com/gpu`` (HAMi's deviceSplitCount, default 10) and one of ``aliyun.com/gpu-count``.

Which GPU a container uses is the extender's decision (its annotation), not the kubelet's
choice among these interchangeable devices; but GetPreferredAllocation steers that choice to
devices of the GPU the extender chose, so the kubelet's books (its checkpoint, the
PodResources API) name the right GPU, and an unhealthy GPU takes its own devices away.

IDs are ``<gpu index>-<unit>``: short, because the kubelet reads the whole list in one gRPC
message of at most 4 MiB (its client keeps grpc-go's default), and ``nvidia.com/gpumem``
alone lists one device per MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin.contract import (
    GPU_COUNT,
    GPU_MEM,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    NVIDIA_GPU,
)

RESOURCES = (GPU_MEM, GPU_COUNT, NVIDIA_GPU, HAMI_GPU_MEM, HAMI_GPU_CORES)
"""Every resource the plugin can serve, in the order it registers them."""

KUBELET_MESSAGE_LIMIT = 4 << 20  # bytes: grpc-go's default receive limit, the kubelet's
_DEVICE_OVERHEAD = 13  # bytes a Device costs beyond its ID: tags, lengths, "Healthy"


def units(resource: str, gpu: Gpu, split: int) -> int:
    """How many devices of ``resource`` one GPU stands for."""
    if resource == GPU_MEM:
        return gpu.memory_mib // 1024  # a GiB the GPU does not fully have is not promised
    if resource == HAMI_GPU_MEM:
        return gpu.memory_mib
    if resource == HAMI_GPU_CORES:
        return 100
    if resource == NVIDIA_GPU:
        return split
    if resource == GPU_COUNT:
        return 1
    raise ValueError(f"not a resource the device plugin serves: {resource}")


def device_ids(resource: str, gpus: Sequence[Gpu], split: int) -> dict[str, int]:
    """Every device of ``resource`` on the node, mapped to its GPU's index."""
    return {
        f"{gpu.index}-{unit}": gpu.index
        for gpu in gpus
        for unit in range(units(resource, gpu, split))
    }


def list_size(ids: Iterable[str]) -> int:
    """Bytes of the ListAndWatch message that carries these devices (an upper bound)."""
    return sum(len(i) + _DEVICE_OVERHEAD for i in ids)


def gpu_of(device_id: str) -> int:
    return int(device_id.split("-", 1)[0])


def preferred(
    available: Sequence[str], must_include: Sequence[str], size: int, gpus: Sequence[int]
) -> list[str]:
    """``size`` devices: the required ones, then those of ``gpus`` (the extender's choice, in
    its order), then any; in ``available``'s order within each group."""
    chosen = list(dict.fromkeys(must_include))
    rank = {gpu: position for position, gpu in enumerate(gpus)}
    rest = [i for i in available if i not in set(chosen)]
    on_target = sorted((i for i in rest if gpu_of(i) in rank), key=lambda i: rank[gpu_of(i)])
    others = [i for i in rest if gpu_of(i) not in rank]
    return (chosen + on_target + others)[:size]
