"""HAMi's annotations: the node register annotation read, a pod's allocation written, so that
HAMi's device plugin can follow the extender's decisions on a node where it runs.

Pinned to HAMi v2.10.0 (Project-HAMi/HAMi, tag ``v2.10.0``, commit 4707fb0); every format
below is that version's, read from its source (docs/device-plugin.md, "HAMi's device plugin"):

* ``hami.io/node-nvidia-register`` (``pkg/device/nvidia/device.go``: ``RegisterAnnos``): the
  node's GPUs, written by HAMi's device plugin (``register.go``, ``MarshalNodeDevices`` in
  ``pkg/device/devices.go``) as a JSON list of objects, read back by ``UnMarshalNodeDevices``:
  ``id`` (the GPU's UUID), ``index`` (NVML's index), ``count`` (slots), ``devmem`` (MiB),
  ``devcore`` (percent), ``type`` (model), ``numa``, ``mode``, ``health``; every field is
  ``omitempty``, so index 0, NUMA node 0 and an unhealthy GPU (``false``) leave their key out.
  Up to v2.7.x HAMi wrote ``id,count,devmem,devcore,type,numa,health[,index,mode]:`` per GPU
  instead (``EncodeNodeDevices``; JSON since v2.8.0, the tags' ``register.go``); that form is
  refused here by name, as anything else that is not the pinned one.
* A pod's devices (``EncodePodSingleDevice``): per container, init containers first then the
  others, the container's GPUs as ``UUID,NVIDIA,<memory MiB>,<cores %>:`` each, and every
  container's entry ended by ``;`` (empty for a container that asks for no ``nvidia.com/gpu``).
  HAMi's scheduler writes the same text under ``hami.io/vgpu-devices-to-allocate`` and
  ``hami.io/vgpu-devices-allocated`` (``PatchAnnotations``); its device plugin pops the first
  non-empty entry at each Allocate (``popNextContainerDevices``) and gives the container
  ``CUDA_DEVICE_MEMORY_LIMIT_<i>=<memory>m`` and ``CUDA_DEVICE_SM_LIMIT=<cores>``; 0 is no
  limit to HAMi-core (``GenerateResourceRequests``' comment), as to our own plugin.
* How HAMi's plugin finds the pod (``pkg/util/util.go``: ``GetPendingPod``): without HAMi's
  node lock, the Pending pod on the node with ``hami.io/bind-time``, ``hami.io/bind-phase``
  ``allocating`` (or ``success``) and ``hami.io/vgpu-node`` equal to the node's name; HAMi's
  scheduler also stamps ``hami.io/vgpu-time`` (``scheduler.go``) and labels the pod
  ``hami.io/vgpu-node`` (``PatchPodAnnotations``). Times are Unix seconds.

Where HAMi's plugin alone serves a node, the node advertises ``nvidia.com/gpu`` as GPUs x
``deviceSplitCount`` and no ``aliyun.com/gpu-count``: the extender then counts the node's GPUs
from the register (:func:`sized_by_register`), and a register it cannot read leaves the node
out of its books (a Warning Event on the node says why).

Why only for pods with a container asking ``nvidia.com/gpu``: HAMi's plugin serves that
resource alone, and takes entries in order; an entry for a container it is never called for
would shift every later one onto the wrong container.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    NVIDIA_GPU,
    container_requests,
    node_name,
    share_limits,
)
from tidewise.model import Resources

HAMI_VERSION = "v2.10.0"
REGISTER = "hami.io/node-nvidia-register"
TO_ALLOCATE = "hami.io/vgpu-devices-to-allocate"
ALLOCATED = "hami.io/vgpu-devices-allocated"
ASSIGNED_NODE = "hami.io/vgpu-node"
ASSIGNED_TIME = "hami.io/vgpu-time"
BIND_PHASE = "hami.io/bind-phase"
BIND_TIME = "hami.io/bind-time"
ALLOCATING = "allocating"
DEVICE_TYPE = "NVIDIA"  # HAMi's NvidiaGPUDevice: the vendor, not the model
LABEL_VALUE_MAX = 63  # Kubernetes' limit on a label value; a node name may run to 253
SEPARATORS = ",:;"  # the pod annotation's own: a UUID holding one would break the entries

_INTEGERS = ("count", "devmem", "devcore", "numa")
_TEXTS = ("type", "mode")
_ASKS = (NVIDIA_GPU, GPU_MEM, HAMI_GPU_MEM, HAMI_GPU_CORES)


class HamiError(ValueError):
    """HAMi's annotations cannot be read or written; the message names the node or pod."""


def register_annotation(node: Mapping[str, Any]) -> str | None:
    """The node's ``hami.io/node-nvidia-register`` text, ``None`` when it has none (no HAMi
    device plugin has registered there: the extender writes no HAMi annotations for it)."""
    text = ((node.get("metadata") or {}).get("annotations") or {}).get(REGISTER)
    return None if text is None else str(text)


def registered_gpus(node: str, text: str) -> dict[int, Gpu]:
    """The node's GPUs by index, from its ``hami.io/node-nvidia-register`` annotation (HAMi
    v2.10.0's JSON: the model is HAMi's ``type``, the memory its ``devmem``, 0 when left
    out); :class:`HamiError` naming the node for any other text."""
    where = f"node {node}: annotation {REGISTER}"
    try:
        devices = json.loads(text)
    except ValueError:
        legacy = ":" in text and "," in text and not text.lstrip().startswith(("[", "{"))
        form = "HAMi's colon-separated form (up to v2.7)" if legacy else "not JSON"
        raise HamiError(
            f"{where} is {form}; the extender reads HAMi {HAMI_VERSION}'s JSON list: run "
            f"HAMi's device plugin {HAMI_VERSION} on the node, or start the extender with "
            "--no-hami-annotations"
        ) from None
    if not isinstance(devices, list) or not devices:
        raise HamiError(f"{where} is not a non-empty JSON list of GPUs")
    gpus: dict[int, Gpu] = {}
    for position, device in enumerate(devices):
        gpu = _device(f"{where}, GPU #{position}", device)
        if gpu.index in gpus:
            raise HamiError(f"{where} lists GPU index {gpu.index} twice")
        if any(other.uuid == gpu.uuid for other in gpus.values()):
            raise HamiError(f"{where} lists GPU {gpu.uuid} twice")
        gpus[gpu.index] = gpu
    return gpus


def _device(where: str, device: Any) -> Gpu:
    """One GPU, every field of the pinned format checked for its type as Go's JSON reader
    would (HAMi itself refuses the node on a mismatch)."""
    if not isinstance(device, dict):
        raise HamiError(f"{where} is not a JSON object")
    uuid = device.get("id")
    if not isinstance(uuid, str) or not uuid or any(c in uuid for c in SEPARATORS):
        raise HamiError(f"{where}: 'id' must be the GPU's UUID, got {uuid!r}")
    index = device.get("index", 0)
    if not _integer(index) or index < 0:
        raise HamiError(f"{where}: 'index' must be a whole number >= 0, got {index!r}")
    for key in _INTEGERS:
        if key in device and (not _integer(device[key]) or device[key] < 0):
            raise HamiError(f"{where}: {key!r} must be a whole number >= 0, got {device[key]!r}")
    for key in _TEXTS:
        if key in device and not isinstance(device[key], str):
            raise HamiError(f"{where}: {key!r} must be a string, got {device[key]!r}")
    if "health" in device and not isinstance(device["health"], bool):
        raise HamiError(f"{where}: 'health' must be true or false, got {device['health']!r}")
    return Gpu(index, uuid, device.get("type", ""), device.get("devmem", 0))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sized_by_register(node: Mapping[str, Any], capacity: Resources) -> Resources:
    """The node's capacity with its GPUs counted from HAMi's register where only HAMi's device
    plugin serves it: that plugin advertises ``nvidia.com/gpu`` as GPUs x deviceSplitCount
    (10 by default) and no ``aliyun.com/gpu-count``, so the count read from the node would be
    ten times too many; the per-GPU memory, when no label gives it, is the least ``devmem``.
    Unchanged where the node advertises ``aliyun.com/gpu-count`` or has no register;
    :class:`HamiError` naming the node when the register cannot be read."""
    text = register_annotation(node)
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    if text is None or GPU_COUNT in allocatable:
        return capacity
    gpus = registered_gpus(node_name(node), text)
    memory = capacity.gpu_memory_mib or min(g.memory_mib for g in gpus.values())
    return replace(capacity, gpu_count=len(gpus), gpu_memory_mib=memory)


def pod_devices(
    pod: Mapping[str, Any], gpus: Sequence[int], registered: Mapping[int, Gpu], node: str
) -> str | None:
    """The pod's devices in HAMi's encoding, from the extender's decision (``gpus``, indices
    on ``node``, whose register gave ``registered``); ``None`` when no container asks for
    ``nvidia.com/gpu``. Containers asking for ``nvidia.com/gpu`` take the pod's GPUs as our
    device plugin slices them: init containers from the first, the others one after another;
    each with its own limits (``resources.share_limits``)."""
    metadata = pod.get("metadata") or {}
    name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    spec = pod.get("spec") or {}
    init, regular = spec.get("initContainers") or [], spec.get("containers") or []
    asks = [container_requests(c, _ASKS) for c in (*init, *regular)]
    counts = [_count(name, a) for a in asks]
    if not any(counts):
        return None
    wanted = max([sum(counts[len(init) :]), *counts[: len(init)]])
    if wanted != len(gpus):
        raise HamiError(
            f"pod {name} asks for {wanted} {NVIDIA_GPU} but holds {len(gpus)} GPU(s) on {node}"
        )
    missing = [g for g in gpus if g not in registered]
    if missing:
        raise HamiError(
            f"node {node}: annotation {REGISTER} has no GPU index {missing[0]} (it lists "
            f"{sorted(registered)}), so pod {name}'s GPU cannot be named to HAMi's device plugin"
        )
    entries, start = [], 0
    for position, (ask, count) in enumerate(zip(asks, counts, strict=True)):
        first = 0 if position < len(init) else start
        memory, cores = share_limits(ask)
        entries.append(
            "".join(
                f"{registered[g].uuid},{DEVICE_TYPE},{memory},{cores}:"
                for g in gpus[first:][:count]
            )
        )
        if position >= len(init):
            start += count
    return "".join(f"{entry};" for entry in entries)


def _count(pod: str, asks: Mapping[str, Any]) -> int:
    count = asks.get(NVIDIA_GPU, 0)
    if count != math.floor(count):
        raise HamiError(f"pod {pod}: {NVIDIA_GPU} must be a whole number")
    return int(count)


def hami_metadata(devices: str, node: str, now_s: int) -> dict[str, dict[str, str]]:
    """What HAMi's scheduler writes on a pod it binds, for ``devices`` (:func:`pod_devices`)
    on ``node`` at ``now_s`` (Unix seconds): the annotations, and ``hami.io/vgpu-node`` as a
    label too (``PatchPodAnnotations`` adds it; HAMi's vGPU monitor lists a node's pods by it),
    unless the node's name is too long for a label value (63 characters)."""
    stamp = str(now_s)
    annotations = {
        TO_ALLOCATE: devices,
        ALLOCATED: devices,
        ASSIGNED_NODE: node,
        ASSIGNED_TIME: stamp,
        BIND_PHASE: ALLOCATING,
        BIND_TIME: stamp,
    }
    labels = {ASSIGNED_NODE: node} if len(node) <= LABEL_VALUE_MAX else {}
    return {"annotations": annotations, "labels": labels}
