"""Whether a pod fits a node, and on which GPUs: the one fit rule of every layer.

Pods and nodes are both :class:`Resources` (a pod's request, a node's capacity), and the rule
is written once, on values that may be numpy arrays (:class:`GpuCluster` filters every node in
one pass) or plain ints (one :class:`Node` of the twin, the provisioner or the queue), so the
two cannot drift apart.

* **The kind of node.** A GPU pod needs GPUs of a model it accepts. A CPU-only pod goes on a
  GPU node only when ``cpu_pods_on_gpu_nodes`` says so: GPU node pools usually carry a
  ``NoSchedule`` taint that CPU pods do not tolerate, which keeps them off expensive GPU nodes
  (the twin, the provisioner, the training queue); the FGD paper's simulator and kube-scheduler
  with our extender have no such taint and place them anywhere.
* **Each GPU.** A whole GPU must be idle (all its share and memory free) and have at least the
  memory asked for; a share needs its milli-GPU and its GPU memory free. A pod holding a GPU
  whole takes all of it, share and memory, so no share ever lands there, not even one sized by
  memory alone, which asks for no milli-GPU.
* **Which GPUs.** A share goes to the fullest GPU that fits it (best fit keeps whole GPUs free
  for whole-GPU pods), lowest index on ties; whole GPUs are the lowest-numbered idle ones.
* A GPU whose memory is unknown has :data:`UNTRACKED_GPU_MEMORY_MIB`: memory never limits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tidewise.model import MILLI_PER_GPU, Node, Resources

Value = np.ndarray | int
"""Per-node or per-GPU values: a numpy array (every node at once) or one int."""
Verdict = np.ndarray | bool


def gpu_fits(
    pod: Resources, free_milli: Value, free_memory: Value, device_memory: Value
) -> Verdict:
    """Per GPU: whether one of the pod's GPUs can go there (arrays broadcast, ints give a bool).

    ``device_memory`` is the GPU's whole memory (see :attr:`Resources.device_memory_mib`).
    """
    if pod.gpu_count:
        idle = (free_milli == MILLI_PER_GPU) & (free_memory == device_memory)
        return idle & (device_memory >= pod.gpu_memory_mib)
    return (free_milli >= pod.gpu_milli) & (free_memory >= pod.gpu_memory_mib)


def gpu_taken(pod: Resources, device_memory: int) -> tuple[int, int]:
    """What the pod takes from each of its GPUs: (milli-GPU, memory); all of a whole GPU."""
    if pod.gpu_count:
        return MILLI_PER_GPU, device_memory
    return pod.gpu_milli, pod.gpu_memory_mib


def admits(
    pod: Resources, gpu_count: Value, model_ok: Verdict, *, cpu_pods_on_gpu_nodes: bool
) -> Verdict:
    """Whether a node of this kind may host the pod: GPUs of an accepted model for a GPU pod;
    for a CPU-only pod, no GPUs unless ``cpu_pods_on_gpu_nodes``."""
    if pod.wants_gpu:
        return model_ok & (gpu_count > 0)
    return True if cpu_pods_on_gpu_nodes else gpu_count == 0


def node_fits(
    pod: Resources, admitted: Verdict, cpu_free: Value, memory_free: Value, gpus_ok: Verdict
) -> Verdict:
    """Whether a node admits the pod and has its CPU and memory free now, and ``gpus_ok``:
    enough of its GPUs pass :func:`gpu_fits` (``True`` for a CPU-only pod)."""
    fits = (cpu_free >= pod.cpu_milli) & (memory_free >= pod.memory_mib)
    for also in (admitted, gpus_ok):
        if also is not True:  # on arrays, every & is a pass over all nodes
            fits = fits & also
    return fits


def model_accepted(pod: Resources, capacity: Resources) -> bool:
    """The node's GPU model is one the pod accepts."""
    if pod.gpu_model is None:  # the common case, without building the set
        return True
    models = pod.gpu_models
    return models is not None and (capacity.gpu_model or "") in models


def pick_gpus(
    pod: Resources, fits: Sequence[bool], free_milli: Sequence[int]
) -> tuple[int, ...] | None:
    """The GPUs the pod takes among those that fit it (module docstring), ``None`` if too few."""
    fitting = [i for i, ok in enumerate(fits) if ok]
    if len(fitting) < pod.gpu_devices:
        return None
    if pod.is_gpu_share:
        return (min(fitting, key=lambda i: free_milli[i]),)
    return tuple(fitting[: pod.gpu_devices])


def gpus_fitting(
    pod: Resources, free_milli: Sequence[int], free_memory: Sequence[int], device_memory: int
) -> list[bool]:
    """:func:`gpu_fits` for each GPU of one node."""
    pairs = zip(free_milli, free_memory, strict=True)
    return [bool(gpu_fits(pod, milli, memory, device_memory)) for milli, memory in pairs]


def choose_gpus(
    pod: Resources, free_milli: Sequence[int], free_memory: Sequence[int], device_memory: int
) -> tuple[int, ...] | None:
    """GPU indices for the pod on GPUs in this state, ``None`` if its GPU request cannot be met."""
    return pick_gpus(pod, gpus_fitting(pod, free_milli, free_memory, device_memory), free_milli)


def fit_on(node: Node, pod: Resources, *, cpu_pods_on_gpu_nodes: bool) -> tuple[int, ...] | None:
    """GPU indices if the pod fits the node's free resources now, else ``None``.

    Called for every pending pod on every node by the provisioner's first fit, so the cheap
    tests come first.
    """
    if not node_fits(pod, True, node.free_cpu_milli, node.free_memory_mib, True):
        return None
    capacity = node.capacity
    model_ok = model_accepted(pod, capacity)
    if not admits(pod, capacity.gpu_count, model_ok, cpu_pods_on_gpu_nodes=cpu_pods_on_gpu_nodes):
        return None
    if not pod.wants_gpu:
        return ()
    free = node.gpu_free_milli, node.gpu_free_memory_mib
    return choose_gpus(pod, *free, capacity.device_memory_mib)  # None: too few GPUs fit


def pods_per_node(capacity: Resources, pod: Resources, *, cpu_pods_on_gpu_nodes: bool) -> int:
    """How many pods of one shape an empty node of this capacity holds."""
    admitted = admits(
        pod,
        capacity.gpu_count,
        model_accepted(pod, capacity),
        cpu_pods_on_gpu_nodes=cpu_pods_on_gpu_nodes,
    )
    if not admitted:
        return 0
    counts = []
    if pod.cpu_milli:
        counts.append(capacity.cpu_milli // pod.cpu_milli)
    if pod.memory_mib:
        counts.append(capacity.memory_mib // pod.memory_mib)
    device_memory = capacity.device_memory_mib
    if pod.gpu_count:
        if not gpu_fits(pod, MILLI_PER_GPU, device_memory, device_memory):
            return 0
        counts.append(capacity.gpu_count // pod.gpu_count)
    elif pod.wants_gpu:
        per_gpu = []
        if pod.gpu_milli:
            per_gpu.append(MILLI_PER_GPU // pod.gpu_milli)
        if pod.gpu_memory_mib:
            per_gpu.append(device_memory // pod.gpu_memory_mib)
        counts.append(min(per_gpu) * capacity.gpu_count)
    return min(counts) if counts else 0


def with_pod(node: Node, pod: Resources, gpus: tuple[int, ...], sign: int = 1) -> Node:
    """The node after binding (``sign=1``) or releasing (``sign=-1``) a pod on ``gpus``."""
    milli = list(node.gpu_free_milli)
    memory = list(node.gpu_free_memory_mib)
    share, taken = gpu_taken(pod, node.capacity.device_memory_mib)
    for i in gpus:
        milli[i] -= sign * share
        memory[i] -= sign * taken
    return replace(
        node,
        allocated_cpu_milli=node.allocated_cpu_milli + sign * pod.cpu_milli,
        allocated_memory_mib=node.allocated_memory_mib + sign * pod.memory_mib,
        gpu_free_milli=tuple(milli),
        gpu_free_memory_mib=tuple(memory),
        pod_count=node.pod_count + sign,
    )
