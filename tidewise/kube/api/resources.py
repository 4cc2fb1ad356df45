"""Pods and nodes as Kubernetes JSON, read as the one resource model (:class:`Resources`).

Why one module for every component: the scheduler sends pods to the extender in the extender
protocol, its watch sends them as API objects, and the provisioner and the training queue list
them; all must read a pod by the same rules, or the extender's books, its decisions and what
the provisioner buys for a pending pod drift apart. Quantities are read by
:mod:`tidewise.model.quantity` (Kubernetes' own grammar), requests and capacities as
:class:`Resources`: ``pod_request`` strictly (the extender refuses what it cannot place),
``pod_resources`` leniently (what a pod takes, whoever placed it), ``node_capacity``.

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

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from tidewise.model import MILLI_PER_GPU, Resources
from tidewise.model.quantity import QuantityError, quantity

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


class PodRequestError(ValueError):
    """The pod asks for something the extender cannot place (said back to the scheduler)."""


Names = tuple[str, ...] | None


def _read(resources: Mapping[str, Any], names: Names) -> dict[str, Fraction]:
    read = {}
    for name, value in resources.items():
        if names is None or name in names:
            try:
                read[name] = quantity(value)
            except QuantityError as error:  # named, so the pod's owner knows what to fix
                raise PodRequestError(f"{name}: {error}") from None
    return read


def container_requests(container: Mapping[str, Any], names: Names = None) -> dict[str, Fraction]:
    """One container's requests (of ``names`` only, if given), falling back to limits (as the
    API server defaults them); :class:`PodRequestError` if a quantity cannot be read."""
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return _read(merged, names)


def pod_requests(pod: Mapping[str, Any], names: Names = None) -> dict[str, Fraction]:
    """The pod's effective requests (of ``names`` only, if given): the larger of its
    containers' sum and any init container.

    This is kube-scheduler's own rule (init containers run one at a time, before the rest),
    plus the pod overhead. :class:`PodRequestError` if a quantity cannot be read.
    """
    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for name, value in container_requests(container, names).items():
            total[name] = total.get(name, Fraction(0)) + value
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container, names).items():
            total[name] = max(total.get(name, Fraction(0)), value)
    for name, value in _read(spec.get("overhead") or {}, names).items():
        total[name] = total.get(name, Fraction(0)) + value
    return total


def share_limits(asks: Mapping[str, Fraction | int]) -> tuple[int, int]:
    """A container's own GPU limits from its asks: memory in MiB (``aliyun.com/gpu-mem`` GiB
    plus ``nvidia.com/gpumem`` MiB) and compute in percent (``nvidia.com/gpucores``); 0 is
    no limit. One rule for the device plugin's environment and the HAMi annotations the
    extender writes, so that either device plugin gives a container the same limits."""
    zero = Fraction(0)
    memory = math.ceil(Fraction(asks.get(GPU_MEM, zero)) * 1024 + asks.get(HAMI_GPU_MEM, zero))
    return memory, math.ceil(asks.get(HAMI_GPU_CORES, zero))


FINISHED_PHASES = ("Succeeded", "Failed")


def has_finished(pod: Mapping[str, Any]) -> bool:
    """Whether the pod ran to its end (Succeeded or Failed): it holds nothing on its node any
    more, whatever its nodeName says."""
    return (pod.get("status") or {}).get("phase") in FINISHED_PHASES


def is_managed(pod: Mapping[str, Any]) -> bool:
    """Whether kube-scheduler sends this pod to the extender (it asks for a managed resource)."""
    requests = pod_requests(pod, MANAGED_RESOURCES)
    return any(requests.get(name, 0) > 0 for name in MANAGED_RESOURCES)


def _cpu_memory(requests: Mapping[str, Fraction]) -> tuple[int, int]:
    """Millicores and MiB, rounded up (kube-scheduler's ``MilliValue`` and ``Value``)."""
    zero = Fraction(0)
    cpu = math.ceil(requests.get("cpu", zero) * 1000)
    return cpu, math.ceil(requests.get("memory", zero) / 2**20)


def pod_request(pod: Mapping[str, Any]) -> Resources:
    """What the pod asks for; :class:`PodRequestError` if the extender cannot place it."""
    try:
        return _resources(pod_requests(pod))
    except ValueError as error:  # a negative request, which the API server never lets by
        raise PodRequestError(str(error)) from None


def _resources(requests: Mapping[str, Fraction]) -> Resources:
    cpu, memory = _cpu_memory(requests)
    zero = Fraction(0)
    whole = int(requests.get(GPU_COUNT, zero))
    gpu_memory = math.ceil(requests.get(GPU_MEM, zero) * 1024 + requests.get(HAMI_GPU_MEM, zero))
    milli = math.ceil(requests.get(HAMI_GPU_CORES, zero) * MILLI_PER_GPU / 100)
    shared = int(requests.get(NVIDIA_GPU, zero))
    if whole and (milli or shared):
        raise PodRequestError(f"{GPU_COUNT} asks for whole GPUs: no share resources with it")
    if whole:
        # a memory request with whole GPUs is the least memory each GPU must have
        per_gpu = -(-gpu_memory // whole)
        return Resources(cpu, memory, gpu_count=whole, gpu_memory_mib=per_gpu)
    if not (milli or gpu_memory):
        return Resources(cpu, memory, gpu_count=shared)
    if shared > 1:
        raise PodRequestError("a GPU share on more than one GPU is not supported")
    if milli > MILLI_PER_GPU:
        raise PodRequestError(f"{HAMI_GPU_CORES} over 100 (one GPU)")
    if milli == MILLI_PER_GPU:  # all of one GPU's cores: the GPU whole
        return Resources(cpu, memory, gpu_count=1, gpu_memory_mib=gpu_memory)
    return Resources(cpu, memory, gpu_milli=milli, gpu_memory_mib=gpu_memory)


def cpu_and_memory(pod: Mapping[str, Any]) -> Resources:
    """The CPU and memory alone: what a pod the extender cannot place still takes on its node
    (nothing, if even those cannot be read)."""
    try:
        return Resources(*_cpu_memory(pod_requests(pod, ("cpu", "memory"))))
    except PodRequestError:
        return Resources()


def node_name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name", ""))


def _mib_label(value: Any) -> int:
    """GPU feature discovery's per-GPU memory label: a whole number of MiB."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 12:  # 12 digits: ~1 EiB
        raise ValueError(
            f"label {GPU_MEMORY_LABEL}={text!r} is not a whole number of MiB "
            "(GPU feature discovery writes e.g. 15360)"
        )
    return int(text)


def node_capacity(node: Mapping[str, Any]) -> Resources:
    """The node's allocatable CPU and memory, and its GPUs: count, model, memory of each."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}

    def amount(name: str) -> Fraction:
        """``ValueError`` naming the resource if its quantity cannot be read."""
        try:
            return quantity(allocatable.get(name, 0))
        except QuantityError as error:
            raise ValueError(f"allocatable {name}: {error}") from None

    gpus = int(amount(GPU_COUNT if GPU_COUNT in allocatable else NVIDIA_GPU))
    if GPU_MEMORY_LABEL in labels:
        per_gpu = _mib_label(labels[GPU_MEMORY_LABEL])
    elif gpus and GPU_MEM in allocatable:
        per_gpu = int(amount(GPU_MEM) * 1024 / gpus)
    else:
        per_gpu = 0  # unknown: memory never limits a share there
    return Resources(
        cpu_milli=math.ceil(amount("cpu") * 1000),
        memory_mib=int(amount("memory") / 2**20),
        gpu_count=gpus,
        gpu_memory_mib=per_gpu,
        gpu_model=(labels.get(MODEL_LABEL) or None) if gpus else None,
    )


def pod_resources(pod: Mapping[str, Any]) -> Resources:
    """What the pod asks for, read by the extender's rules, so that a GPU-share pod
    (``aliyun.com/gpu-mem``, HAMi's ``nvidia.com/gpucores``...) buys the share it will get and
    not a whole GPU, or nothing at all. A request the extender refuses counts its CPU and
    memory only: no GPU bought could serve it."""
    try:
        return pod_request(pod)
    except PodRequestError:
        return cpu_and_memory(pod)
