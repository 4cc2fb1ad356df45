"""Placeholder pods for gangs that wait for nodes, and the room Karpenter's NodePools leave.

A suspended job has no pods, so a node autoscaler buys nothing for it. For each gang the
queue would admit next but no node can host (``tidewise.queue.placeholders``), one
placeholder pod per worker, of the worker's exact shape (its containers' requests and limits,
nodeSelector, tolerations and affinity, so a dataset's preferred nodes too), asks Karpenter
for the nodes. They run ``pause`` at the lowest priority (PriorityClass
``tidewise-placeholder``, shipped with the training-queue component: any pod preempts them,
and they preempt nothing), and are owned by the job, so the garbage collector deletes them
with it. The queue ignores them when it counts what nodes hold, admits the gang onto the
nodes they brought, and deletes them then. Their state is the pods themselves: a restarted
controller finds them by label.

The room: a NodePool with a ``nvidia.com/gpu`` limit may still buy that many GPUs less those
of its nodes (``karpenter.sh/nodepool`` label); a NodePool without one is not counted, so no
placeholder asks for capacity nobody bounded. The GPU model is the pool template's
``nvidia.com/gpu.product`` label (as quota flavours name models), or none.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube.generic_resource import create_global_resource

from tidewise.kube.api.labels import CAPACITY_TYPE
from tidewise.kube.api.resources import MODEL_LABEL, node_capacity
from tidewise.kube.jobs.observe import PLACEHOLDER_LABEL, checkpointable, job_templates
from tidewise.model.quantity import quantity
from tidewise.queue.placeholders import Hold

NodePool = create_global_resource("karpenter.sh", "v1", "NodePool", "nodepools")
NODEPOOL_LABEL = "karpenter.sh/nodepool"
GPU = "nvidia.com/gpu"
PRIORITY_CLASS = "tidewise-placeholder"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
NOT_SPOT = {"key": CAPACITY_TYPE, "operator": "NotIn", "values": ["spot"]}
KEPT = ("nodeSelector", "tolerations", "affinity")
"""What of the worker's pod spec decides where it may go, copied onto its placeholder."""


def pool_room(
    pools: Iterable[Mapping[str, Any]], nodes: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    """GPUs the NodePools may still buy, by GPU model ("" when the pool names none)."""
    on_nodes = Counter[str]()
    for node in nodes:
        pool = ((node.get("metadata") or {}).get("labels") or {}).get(NODEPOOL_LABEL)
        if pool:
            on_nodes[pool] += node_capacity(node).gpu_count
    room = Counter[str]()
    for pool in pools:
        spec = pool.get("spec") or {}
        limit = (spec.get("limits") or {}).get(GPU)
        if limit is None:
            continue
        template = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        left = int(quantity(limit)) - on_nodes[pool["metadata"]["name"]]
        room[template.get(MODEL_LABEL, "")] += max(0, left)
    return dict(room)


def placeholder_pods(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One pod per worker of ``job`` (a Job or PyTorchJob as the API returns it), in order."""
    metadata = job["metadata"]
    name, namespace = metadata["name"], metadata["namespace"]
    owner = {
        "apiVersion": job["apiVersion"],
        "kind": job["kind"],
        "name": name,
        "uid": metadata["uid"],
    }
    pods: list[dict[str, Any]] = []
    for template, count in job_templates(job):
        spec = template.get("spec") or {}
        containers = [
            {"name": c["name"], "image": PAUSE_IMAGE, "resources": c.get("resources") or {}}
            for c in spec.get("containers") or []
        ]
        kept = {key: copy.deepcopy(spec[key]) for key in KEPT if spec.get(key)}
        if not checkpointable(job):
            kept["affinity"] = off_spot(kept.get("affinity") or {})
        for _ in range(count):
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{name}-placeholder-{len(pods)}",
                        "namespace": namespace,
                        "labels": {PLACEHOLDER_LABEL: name},
                        "ownerReferences": [owner],
                    },
                    "spec": {
                        "containers": containers,
                        "priorityClassName": PRIORITY_CLASS,
                        "terminationGracePeriodSeconds": 0,
                        **kept,
                    },
                }
            )
    return pods


def off_spot(affinity: dict[str, Any]) -> dict[str, Any]:
    """``affinity`` with spot nodes ruled out (added to every required term): the queue
    starts only checkpointable jobs on spot, so a placeholder of another job must not make
    Karpenter buy spot, however cheap (the twin's elastic pool buys on demand for them)."""
    node = affinity.setdefault("nodeAffinity", {})
    required = node.setdefault(REQUIRED, {"nodeSelectorTerms": [{}]})
    for term in required["nodeSelectorTerms"]:
        term.setdefault("matchExpressions", []).append(NOT_SPOT)
    return affinity


def held_message(hold: Hold, count: int) -> str:
    model = f" of {hold.flavor}" if hold.flavor else ""
    return (
        f"no node can host its workers: {count} placeholder pods of their shape ask the node "
        f"pools for {hold.gpus} GPUs{model}"
    )
