"""The twin's interim scheduler: best fit on CPU, the simplest placement worth measuring.

The fragmentation-aware GPU engine of the placement issue replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable

from tidewise.model import Bind, Node, Pod
from tidewise.placement.fit import fit_on


def best_fit(pod: Pod, nodes: Iterable[Node]) -> Bind | None:
    """Bind the pod to the schedulable node it leaves with the least free CPU share.

    Ties go to the node listed first, so the choice is deterministic.
    """
    best: tuple[float, Node, tuple[int, ...]] | None = None
    for node in nodes:
        if not node.schedulable:
            continue
        gpus = fit_on(node, pod.requests)
        if gpus is None:
            continue
        left = (node.free_cpu_milli - pod.requests.cpu_milli) / node.capacity.cpu_milli
        if best is None or left < best[0]:
            best = (left, node, gpus)
    if best is None:
        return None
    return Bind(pod=pod.name, node=best[1].name, gpu_indices=best[2])
