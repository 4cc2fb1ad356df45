"""A container's GPU share, read from its pod: the GPUs the extender recorded and the
container's own requests.

Why per container, from its own requests: the extender books a pod's total on its GPU; each
container of the pod then gets the GPU with the limits it asked for itself, so two containers
of one pod cannot take each other's memory either.

Rules (docs/device-plugin.md):

* whole GPUs (``aliyun.com/gpu-count``): the pod's recorded GPUs, sliced among its containers
  in spec order (init containers run alone, before the others, and start from the first);
  no limits;
* a share (anything else): the pod's one recorded GPU, with the container's
  ``aliyun.com/gpu-mem`` (GiB) plus ``nvidia.com/gpumem`` (MiB) as its memory limit and
  ``nvidia.com/gpucores`` (percent) as its compute limit; 0 is no limit.

Anything else, a missing or malformed annotation above all, is a :class:`ShareError` that
names the pod: the plugin refuses rather than guess a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.kube.deviceplugin.contract import (
    GPU_COUNT,
    GPU_INDEX,
    HAMI_GPU_CORES,
    container_requests,
    pod_name,
    share_limits,
)


class ShareError(ValueError):
    """The pod's share cannot be read; the message names the pod and what is wrong."""


@dataclass(frozen=True, slots=True)
class ContainerShare:
    pod: str  # namespace/name, for messages
    container: str
    gpus: tuple[int, ...]  # indices on the node
    memory_mib: int = 0  # 0: no memory limit
    cores_percent: int = 0  # 0: no compute limit
    whole: bool = False  # whole GPUs: never limited


def recorded_indices(pod: Mapping[str, Any], gpu_count: int) -> tuple[int, ...]:
    """The pod's GPU indices from the extender's annotation, checked against the node."""
    name = pod_name(pod)
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(GPU_INDEX)
    if text is None:
        raise ShareError(
            f"pod {name} has no {GPU_INDEX} annotation: no GPU-share extender placed it "
            "(schedule it through the extender, docs/device-plugin.md)"
        )
    try:
        indices = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ShareError(
            f"pod {name}: annotation {GPU_INDEX}={text!r} is not a comma-separated list of "
            "GPU indices"
        ) from None
    if len(set(indices)) != len(indices):
        raise ShareError(f"pod {name}: annotation {GPU_INDEX}={text!r} repeats a GPU")
    wrong = [i for i in indices if not 0 <= i < gpu_count]
    if wrong:
        raise ShareError(
            f"pod {name}: annotation {GPU_INDEX}={text!r} names GPU {wrong[0]}, but this "
            f"node has GPUs 0-{gpu_count - 1}"
        )
    return indices


def _containers(pod: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return list((pod.get("spec") or {}).get(kind) or [])


def share_of(pod: Mapping[str, Any], container: str, gpu_count: int) -> ContainerShare:
    """The share of ``container`` (init or regular) of ``pod`` on a node of ``gpu_count``
    GPUs; :class:`ShareError` if it cannot be read."""
    name = pod_name(pod)
    indices = recorded_indices(pod, gpu_count)
    init, regular = _containers(pod, "initContainers"), _containers(pod, "containers")
    found = [c for c in init + regular if c.get("name") == container]
    if not found:
        raise ShareError(f"pod {name} has no container {container!r}")
    try:
        asks = container_requests(found[0])
    except ValueError as error:
        raise ShareError(f"pod {name}, container {container}: {error}") from None
    whole = asks.get(GPU_COUNT, 0)
    if whole:
        return _whole(name, container, indices, whole, init, regular)
    if len(indices) != 1:
        raise ShareError(
            f"pod {name}: a GPU share lives on one GPU, but {GPU_INDEX} records {len(indices)}"
        )
    memory, cores = share_limits(asks)
    if not 0 <= cores <= 100:
        raise ShareError(f"pod {name}, container {container}: {HAMI_GPU_CORES} not in 0-100")
    return ContainerShare(name, container, indices, memory, cores)


def _whole(
    name: str,
    container: str,
    indices: tuple[int, ...],
    count: int,
    init: list[Mapping[str, Any]],
    regular: list[Mapping[str, Any]],
) -> ContainerShare:
    """Whole GPUs: regular containers take consecutive slices of the recorded GPUs in spec
    order; an init container (it runs before them, alone) takes the first ``count``."""

    def wanted(c: Mapping[str, Any]) -> int:
        return container_requests(c).get(GPU_COUNT, 0)

    total = max([sum(wanted(c) for c in regular), *(wanted(c) for c in init)])
    if len(indices) != total:
        raise ShareError(
            f"pod {name} asks for {total} whole GPUs, but {GPU_INDEX} records {len(indices)}"
        )
    start = 0
    if container not in {c.get("name") for c in init}:
        for c in regular:
            if c.get("name") == container:
                break
            start += wanted(c)
    return ContainerShare(name, container, indices[start : start + count], whole=True)
