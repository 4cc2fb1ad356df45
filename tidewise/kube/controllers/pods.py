"""A target's pods as the HPA's replica calculator sees them (``PodSample``), from API objects.

The calculator needs, per pod: phase, Ready and when it last changed, start time, whether it
is being deleted, the summed request of the metric's resource (milli-units, as Kubernetes'
``MilliValue``) and the metrics API's sample. Times are epoch seconds, the controllers' clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tidewise.kube.api.status import unix_s
from tidewise.model.quantity import quantity
from tidewise.scaling.replica_calculator import PodSample

if TYPE_CHECKING:
    from lightkube.core.client import LabelSelector

Usage = Mapping[str, tuple[int, float, float]]
"""Pod name -> (sample in milli-units, its timestamp, its window in seconds)."""


def milli(text: object) -> int:
    """A resource quantity in milli-units, rounded up as Kubernetes' ``MilliValue``."""
    return math.ceil(quantity(text) * 1000)


def request_of(pod: Mapping[str, Any], resource: str) -> int | None:
    """The pod's summed request of ``resource``; None when a container has none (Kubernetes
    then cannot compute a utilization)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        if resource not in requests:
            return None
        total += milli(requests[resource])
    return total


def samples(
    pods: Sequence[Mapping[str, Any]], resource: str | None, usage: Usage | None
) -> tuple[PodSample, ...]:
    """``pods`` as PodSamples; with ``resource``, each carries its request and usage sample."""
    out = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        name = meta["name"]
        sample = (usage or {}).get(name)
        out.append(
            PodSample(
                name,
                status.get("phase", "Pending"),
                ready is not None and ready.get("status") == "True",
                unix_s(status.get("startTime")),
                unix_s(ready.get("lastTransitionTime")) if ready else None,
                bool(meta.get("deletionTimestamp")),
                request_of(pod, resource) if resource else None,
                sample[0] if sample else None,
                sample[1] if sample else None,
                sample[2] if sample else 60.0,
            )
        )
    return tuple(out)


def equality_selector(selector: str) -> LabelSelector:
    """``status.selector`` of a /scale as a label dict; only ``k=v`` terms (what a
    Deployment's matchLabels gives) are supported."""
    labels: LabelSelector = {}
    for term in filter(None, selector.split(",")):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!") or " " in term:
            raise ValueError(f"target selector '{selector}': only key=value terms are supported")
        labels[key.strip()] = value.lstrip("=").strip()
    return labels
