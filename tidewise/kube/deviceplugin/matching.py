"""Which pod's container an Allocate is for.

The kubelet's Allocate says only "these N devices of resource R"; it names no pod. gpushare's
plugin takes the first pending pod asking the same amount (research notes §3.1), which picks
the wrong pod whenever two such pods wait on one node. We use two facts about the kubelet
(kubernetes ``pkg/kubelet/kubelet.go`` HandlePodAdditions and ``cm/devicemanager``):

1. it admits pods one at a time, and a pod is in its active set, which the PodResources API
   ``List`` returns, from the start of its admission;
2. it calls Allocate during admission, container by container, and records a container's
   devices only after its Allocate returns, so that container is the one in the listing
   without devices of R.

So the candidates are the containers that (a) belong to pods bound to this node and not
finished, read fresh from the API server, (b) ask for exactly N of R, and (c) are, by the
kubelet's listing, in a pod it holds and not yet given devices of R. Outside admission
there is only one such container (Intel's GPU plugin relies on the same two facts:
``cmd/gpu_plugin/rm``). When the listing cannot be had, (c) becomes "the pod is Pending".

Failure modes (each an Allocate error naming the pods, never a guess):

* several candidates whose shares differ: without the listing, two pending pods asking the
  same amount; with it, a regular init container (the listing never shows those) and a
  container of the same pod asking the same N with other limits;
* no candidate: the pod is not bound here by the API server's account, or it asks for R in
  a container the listing already shows as served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidewise.kube.api.resources import has_finished
from tidewise.kube.deviceplugin.contract import container_requests, pod_name

KubeletView = Mapping[tuple[str, str], Mapping[str, frozenset[str]]]
"""The kubelet's active pods by (namespace, name): each container's resources with devices."""


@dataclass(frozen=True, slots=True)
class Candidate:
    pod: Mapping[str, Any]
    container: str


def candidates(
    pods: Sequence[Mapping[str, Any]], kubelet: KubeletView | None, resource: str, count: int
) -> list[Candidate]:
    """The containers an Allocate of ``count`` devices of ``resource`` may be for, in the
    kubelet's order (pods as listed, then init containers before regular ones)."""
    found = []
    for pod in pods:
        metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
        if has_finished(pod) or metadata.get("deletionTimestamp"):
            continue
        key = (metadata.get("namespace", ""), metadata.get("name", ""))
        if kubelet is None:
            if status.get("phase", "Pending") != "Pending":
                continue
            served: Mapping[str, frozenset[str]] = {}
        elif key in kubelet:
            served = kubelet[key]
        else:
            continue  # the kubelet has not reached this pod
        spec = pod.get("spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            name = container.get("name", "")
            if resource in served.get(name, frozenset()):
                continue
            if container_requests(container).get(resource, 0) == count:
                found.append(Candidate(pod, name))
    return found


def names(found: Sequence[Candidate]) -> str:
    return ", ".join(sorted({pod_name(c.pod) for c in found}))
