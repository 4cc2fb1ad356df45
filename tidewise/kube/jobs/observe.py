"""Jobs, nodes and pods from the API, as the queue policy's :class:`QueueSnapshot`.

Why the admission is also read back from the Job (an annotation the controller writes when it
un-suspends one): between the admission and the scheduler binding the job's pods, the GPUs
promised to it are free in every listing, and a second pass would promise them again. Until
its pods are bound, an admitted job holds what its admission recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tidewise.kube.api.labels import CAPACITY_TYPE
from tidewise.kube.api.resources import has_finished, node_capacity, node_name, pod_resources
from tidewise.kube.api.status import unix_s
from tidewise.model import (
    DEFAULT_QUEUE,
    Bind,
    InstanceType,
    Job,
    JobPhase,
    JobSpec,
    Node,
    NodeState,
    Offering,
    PurchaseOption,
)
from tidewise.placement.fit import choose_gpus, with_pod
from tidewise.queue import QueueSnapshot
from tidewise.queue.manifests import DATASET_ANNOTATION, QUEUE_LABEL, dataset_label

# JSON: {"at": unix seconds, "flavor": GPU model charged, "binds": [[node, [gpus]], ...]}
ADMITTED = "tidewise.io/admitted"
POSITION = "tidewise.io/queue-position"
REASON = "tidewise.io/queue-reason"
JOB_LABEL = "tidewise.io/job"
CHECKPOINTABLE = "tidewise.io/checkpointable"
PLACEHOLDER_LABEL = "tidewise.io/placeholder-for"
"""On a placeholder pod (``tidewise.kube.jobs.placeholders``): the job it holds places for."""


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def suspended(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "PyTorchJob":
        return bool((spec.get("runPolicy") or {}).get("suspend"))
    return bool(spec.get("suspend"))


def finished(obj: Mapping[str, Any]) -> JobPhase | None:
    """SUCCEEDED or FAILED from the object's conditions (Job and training-operator alike)."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") in ("Complete", "Succeeded"):
            return JobPhase.SUCCEEDED
        if condition.get("type") == "Failed":
            return JobPhase.FAILED
    return None


def job_templates(obj: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], int]]:
    """Each pod template with its replica count."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "PyTorchJob":
        replicas = (spec.get("pytorchReplicaSpecs") or {}).values()
        return [(r.get("template") or {}, int(r.get("replicas", 1))) for r in replicas]
    return [(spec.get("template") or {}, int(spec.get("parallelism", 1) or 1))]


def checkpointable(obj: Mapping[str, Any]) -> bool:
    """Whether the job resumes from checkpoints (so it may run on spot nodes)."""
    return (_metadata(obj).get("annotations") or {}).get(CHECKPOINTABLE) == "true"


def job_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``: the job's name in the queue (names are unique per namespace)."""
    return f"{_metadata(obj).get('namespace', '')}/{_metadata(obj).get('name', '')}"


def job_spec(obj: Mapping[str, Any]) -> JobSpec:
    """What was submitted, named ``namespace/name``; the first template's container is the
    worker shape."""
    metadata = _metadata(obj)
    annotations = metadata.get("annotations") or {}
    templates = job_templates(obj)
    template = templates[0][0]
    container = ((template.get("spec") or {}).get("containers") or [{}])[0]
    return JobSpec(
        name=job_key(obj),
        worker=pod_resources({"spec": template.get("spec") or {}}),
        workers=sum(count for _, count in templates),
        image=container.get("image", ""),
        command=tuple(container.get("command") or ()),
        priority=int(annotations.get("tidewise.io/priority", 0)),
        queue=(metadata.get("labels") or {}).get(QUEUE_LABEL, DEFAULT_QUEUE),
        checkpointable=checkpointable(obj),
        dataset=annotations.get(DATASET_ANNOTATION),
    )


def admission(obj: Mapping[str, Any]) -> tuple[float, str | None, tuple[Bind, ...]] | None:
    """When the controller admitted the job, the flavour it charged and where it promised its
    workers, if it did."""
    raw = (_metadata(obj).get("annotations") or {}).get(ADMITTED)
    if not raw:
        return None
    record = json.loads(raw)
    name = job_key(obj)
    binds = tuple(
        Bind(f"{name}-{i}", node, tuple(gpus)) for i, (node, gpus) in enumerate(record["binds"])
    )
    return float(record["at"]), record.get("flavor"), binds


def admission_record(time_s: float, flavor: str | None, binds: Sequence[Bind]) -> str:
    promised = [[b.node, list(b.gpu_indices)] for b in binds]
    return json.dumps({"at": time_s, "flavor": flavor, "binds": promised})


def observed_node(node: Mapping[str, Any]) -> Node:
    """The node with nothing on it: capacity from its allocatable and GPU labels."""
    name, capacity = node_name(node), node_capacity(node)
    labels = _metadata(node).get("labels") or {}
    kind = InstanceType(
        labels.get("node.kubernetes.io/instance-type", name),
        capacity.cpu_milli / 1000,
        capacity.memory_mib,
        capacity.gpu_count,
        capacity.gpu_model,
        capacity.gpu_memory_mib,
    )
    zone = labels.get("topology.kubernetes.io/zone", "")
    # the price the queue pays no heed; spot nodes take only checkpointable jobs
    bought = labels.get(CAPACITY_TYPE)
    option = PurchaseOption.SPOT if bought == PurchaseOption.SPOT else PurchaseOption.ON_DEMAND
    offering = Offering(kind, zone, option, 0.0)
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    cordoned = bool((node.get("spec") or {}).get("unschedulable"))
    return Node(
        name=name,
        offering=offering,
        capacity=capacity,
        state=NodeState.READY if ready and not cordoned else NodeState.CORDONED,
        launched_s=unix_s(_metadata(node).get("creationTimestamp")) or 0.0,
    )


def snapshot(
    now_s: float,
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
) -> QueueSnapshot:
    """Every unfinished job, the nodes less what their pods (and admitted, not yet bound
    workers) hold, and the nodes caching the jobs' datasets."""
    seen = {n["metadata"]["name"]: observed_node(n) for n in nodes}
    binds: dict[str, list[Bind]] = {}
    for pod in pods:
        node, metadata = (pod.get("spec") or {}).get("nodeName"), _metadata(pod)
        if node is None or node not in seen or has_finished(pod) or is_placeholder(pod):
            continue  # a placeholder's place is the job's to take
        requests = pod_resources(pod)
        free = seen[node].gpu_free_milli, seen[node].gpu_free_memory_mib
        gpus = choose_gpus(requests, *free, seen[node].capacity.device_memory_mib) or ()
        seen[node] = with_pod(seen[node], requests, gpus)
        owner = (metadata.get("labels") or {}).get(JOB_LABEL)
        if owner:
            key = f"{metadata.get('namespace', '')}/{owner}"
            binds.setdefault(key, []).append(Bind(metadata.get("name", ""), node, gpus))
    observed: list[Job] = []
    for obj in jobs:
        if finished(obj) is not None:
            continue
        spec = job_spec(obj)
        submitted = unix_s(_metadata(obj).get("creationTimestamp")) or 0.0
        admitted = admission(obj)
        if suspended(obj) or admitted is None:
            observed.append(Job(spec, JobPhase.QUEUING, submitted))
            continue
        at, flavor, promised = admitted
        bound = binds.get(spec.name, [])
        # workers promised but not bound yet hold their promised place
        for unbound in promised[len(bound) :]:
            if (node := unbound.node) in seen:
                seen[node] = with_pod(seen[node], spec.worker, unbound.gpu_indices)
        held = tuple(bound) + promised[len(bound) :]
        phase = JobPhase.RUNNING if len(bound) == spec.workers else JobPhase.PENDING
        observed.append(Job(spec, phase, submitted, at, flavor, False, held))
    caches = cached(nodes, jobs)
    return QueueSnapshot(now_s, tuple(seen.values()), tuple(observed), caches)


def is_placeholder(pod: Mapping[str, Any]) -> bool:
    return PLACEHOLDER_LABEL in (_metadata(pod).get("labels") or {})


def cached(
    nodes: Sequence[Mapping[str, Any]], jobs: Sequence[Mapping[str, Any]]
) -> dict[str, frozenset[str]]:
    """The nodes caching each job's dataset: those carrying Fluid's label for it in the
    job's namespace (a dataset name used in two namespaces joins both sets)."""
    found: dict[str, set[str]] = {}
    for obj in jobs:
        dataset = (_metadata(obj).get("annotations") or {}).get(DATASET_ANNOTATION)
        if not dataset:
            continue
        label = dataset_label(_metadata(obj).get("namespace", ""), dataset)
        holders = found.setdefault(dataset, set())
        holders.update(
            node["metadata"]["name"]
            for node in nodes
            if (_metadata(node).get("labels") or {}).get(label) == "true"
        )
    return {dataset: frozenset(names) for dataset, names in found.items()}
