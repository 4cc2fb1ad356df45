"""Pods and nodes as Kubernetes JSON, read in the placement engine's units.

Why one module for every component: the scheduler sends pods to the extender in the extender
protocol, its watch sends them as API objects, and the provisioner and the training queue list
them; all must read a pod by the same rules, or the extender's books, its decisions and what
the provisioner buys for a pending pod drift apart. ``pod_shape``/``node_spec`` give the
placement engine's shapes, ``pod_resources`` the capacity and queue policies' ``Resources``.

Resource names are the ones users already run (DESIGN.md §3):

* ``aliyun.com/gpu-mem``: GPU memory in GiB (gpushare). On a pod, the share of one GPU sized by
  memory; on a node, the memory of all its GPUs together (gpushare's device plugin).
* ``aliyun.com/gpu-count``: on a pod, whole GPUs; on a node, how many GPUs it has.
* ``nvidia.com/gpumem``: GPU memory in MiB per GPU (HAMi).
* ``nvidia.com/gpucores``: compute share in percent of one GPU (HAMi); 25 is 250 milli-GPU.
  Without it a share is sized by memory alone and takes no milli-share.
* ``nvidia.com/gpu``: whole GPUs when it is the only GPU resource (the device plugin's own);
  with a share resource it is HAMi's count of shared GPUs, and only 1 is supported.

A node's GPU model and per-GPU memory come from NVIDIA GPU feature discovery's labels
(``nvidia.com/gpu.product``, ``nvidia.com/gpu.memory`` in MiB) when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.placement.gpushare import NodeSpec, PodShape

GPU_MEM = "aliyun.com/gpu-mem"
GPU_COUNT = "aliyun.com/gpu-count"
HAMI_GPU_MEM = "nvidia.com/gpumem"
HAMI_GPU_CORES = "nvidia.com/gpucores"
NVIDIA_GPU = "nvidia.com/gpu"
MANAGED_RESOURCES = (GPU_MEM, GPU_COUNT, HAMI_GPU_MEM, HAMI_GPU_CORES)
"""What the extender owns: kube-scheduler calls it only for pods asking for one of these, and
leaves their fit to it (``ignoredByScheduler``)."""

MODEL_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"

_SUFFIXES = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


class PodRequestError(ValueError):
    """The pod asks for something the extender cannot place (said back to the scheduler)."""


def quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity (``"500m"``, ``"2Gi"``, ``"1e3"``, ``"4"``) as an exact number.

    The API server sends what the user wrote, so bare numbers (bytes, for memory) and decimal
    exponents occur as well as the binary suffixes.
    """
    value = str(text).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if value.endswith(suffix):
            return _number(value[: -len(suffix)], value) * _SUFFIXES[suffix]
    return _number(value, value)


def _number(digits: str, whole: str) -> Decimal:
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {whole!r}") from None


def _ceil(value: Decimal) -> int:
    return int(-(-value // 1))


def _container_requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
    """Requests, falling back to limits (as the API server defaults them)."""
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: quantity(value) for name, value in merged.items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """The pod's effective requests: the larger of its containers' sum and any init container.

    This is kube-scheduler's own rule (init containers run one at a time, before the rest),
    plus the pod overhead.
    """
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, value in _container_requests(container).items():
            total[name] = total.get(name, Decimal(0)) + value
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            total[name] = max(total.get(name, Decimal(0)), value)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, Decimal(0)) + quantity(value)
    return total


def is_managed(pod: Mapping[str, Any]) -> bool:
    """Whether kube-scheduler sends this pod to the extender (it asks for a managed resource)."""
    requests = pod_requests(pod)
    return any(requests.get(name, 0) > 0 for name in MANAGED_RESOURCES)


def pod_shape(pod: Mapping[str, Any]) -> PodShape:
    """The pod in the engine's terms; :class:`PodRequestError` if it cannot be placed."""
    requests = pod_requests(pod)
    cpu = _ceil(requests.get("cpu", Decimal(0)) * 1000)
    memory = _ceil(requests.get("memory", Decimal(0)) / 2**20)
    whole = int(requests.get(GPU_COUNT, 0))
    gpu_memory = _ceil(requests.get(GPU_MEM, Decimal(0)) * 1024 + requests.get(HAMI_GPU_MEM, 0))
    milli = _ceil(requests.get(HAMI_GPU_CORES, Decimal(0)) * MILLI_PER_GPU / 100)
    shared = int(requests.get(NVIDIA_GPU, 0))
    if whole and (milli or shared):
        raise PodRequestError(f"{GPU_COUNT} asks for whole GPUs: no share resources with it")
    if whole:
        # a memory request with whole GPUs is the least memory each GPU must have
        return PodShape(cpu, memory, whole, MILLI_PER_GPU, None, -(-gpu_memory // whole))
    if not (milli or gpu_memory):
        return PodShape(cpu, memory, shared, MILLI_PER_GPU if shared else 0)
    if shared > 1:
        raise PodRequestError("a GPU share on more than one GPU is not supported")
    if milli > MILLI_PER_GPU:
        raise PodRequestError(f"{HAMI_GPU_CORES} over 100 (one GPU)")
    try:
        return PodShape(cpu, memory, 1, milli, None, gpu_memory)
    except ValueError as error:
        raise PodRequestError(str(error)) from None


def node_spec(node: Mapping[str, Any]) -> NodeSpec:
    """The node's allocatable CPU and memory, and its GPUs: count, model, memory of each."""
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    gpus = int(quantity(allocatable.get(GPU_COUNT, allocatable.get(NVIDIA_GPU, 0))))
    if GPU_MEMORY_LABEL in labels:
        per_gpu = int(labels[GPU_MEMORY_LABEL])
    elif gpus and GPU_MEM in allocatable:
        per_gpu = int(quantity(allocatable[GPU_MEM]) * 1024 / gpus)
    else:
        per_gpu = 0  # unknown: memory never limits a share there
    return NodeSpec(
        metadata.get("name", ""),
        _ceil(quantity(allocatable.get("cpu", 0)) * 1000),
        int(quantity(allocatable.get("memory", 0)) / 2**20),
        gpus,
        labels.get(MODEL_LABEL, ""),
        per_gpu,
    )


def pod_resources(pod: Mapping[str, Any]) -> Resources:
    """What the pod asks for, read by the extender's rules, so that a GPU-share pod
    (``aliyun.com/gpu-mem``, HAMi's ``nvidia.com/gpucores``...) buys the share it will get and
    not a whole GPU, or nothing at all. A request the extender refuses counts its CPU and
    memory only: no GPU bought could serve it."""
    try:
        shape = pod_shape(pod)
    except PodRequestError:
        requests = pod_requests(pod)
        cpu = int(-(-requests.get("cpu", 0) * 1000 // 1))
        return Resources(cpu_milli=cpu, memory_mib=int(-(-requests.get("memory", 0) // 2**20)))
    share = shape.num_gpu == 1 and shape.gpu_milli < MILLI_PER_GPU
    return Resources(
        cpu_milli=shape.cpu_milli,
        memory_mib=shape.memory_mib,
        gpu_count=0 if share else shape.num_gpu,
        gpu_milli=shape.gpu_milli if share else 0,
        gpu_memory_mib=shape.gpu_memory_mib,
    )
