"""The Kubernetes objects a job becomes: a suspended batch/v1 Job for one pod, a Kubeflow
training-operator PyTorchJob (``kubeflow.org/v1``) for N workers. Pure rendering to dicts.

Both are created suspended and labelled with Kueue's queue label (``kueue.x-k8s.io/queue-name``),
so that nothing starts before admission un-suspends it. GPU shares use the names users
already run (DESIGN.md §3): ``aliyun.com/gpu-mem`` in GiB for a share by memory; whole GPUs
``nvidia.com/gpu``. A dataset mounts Fluid's same-named PVC and prefers the nodes Fluid
labels as caching it (``fluid.io/s-<namespace>-<dataset>``, weight 100, as Fluid's webhook).
"""

from __future__ import annotations

from typing import Any

from tidewise.model import JobSpec

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
DATA_MOUNT = "/data"
DATASET_ANNOTATION = "tidewise.io/dataset"
PYTORCH_CONTAINER = "pytorch"  # the training operator finds the container by this name


def _quantity_cpu(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _resources(spec: JobSpec) -> dict[str, Any]:
    worker = spec.worker
    requests: dict[str, Any] = {}
    if worker.cpu_milli:
        requests["cpu"] = _quantity_cpu(worker.cpu_milli)
    if worker.memory_mib:
        requests["memory"] = f"{worker.memory_mib}Mi"
    limits = dict(requests)
    if worker.gpu_count:
        limits["nvidia.com/gpu"] = str(worker.gpu_count)
    elif worker.gpu_memory_mib:
        limits["aliyun.com/gpu-mem"] = str(-(-worker.gpu_memory_mib // 1024))
    return {"requests": requests, "limits": limits}


def dataset_label(namespace: str, dataset: str) -> str:
    """The label Fluid puts (value ``"true"``) on the nodes that cache a dataset of a
    namespace: what a job's pods prefer, and what the queue reads as the dataset's cache."""
    return f"fluid.io/s-{namespace}-{dataset}"


def _metadata(spec: JobSpec, namespace: str) -> dict[str, Any]:
    annotations = {
        "tidewise.io/priority": str(spec.priority),
        "tidewise.io/checkpointable": str(spec.checkpointable).lower(),
    }
    if spec.dataset:
        annotations[DATASET_ANNOTATION] = spec.dataset
    return {
        "name": spec.name,
        "namespace": namespace,
        "labels": {QUEUE_LABEL: spec.queue, "tidewise.io/job": spec.name},
        "annotations": annotations,
    }


def _pod_template(spec: JobSpec, namespace: str, container: str, restart: str) -> dict[str, Any]:
    main: dict[str, Any] = {"name": container, "image": spec.image, "resources": _resources(spec)}
    if spec.command:
        main["command"] = list(spec.command)
    pod: dict[str, Any] = {"restartPolicy": restart, "containers": [main]}
    if spec.dataset:
        main["volumeMounts"] = [{"name": "dataset", "mountPath": f"{DATA_MOUNT}/{spec.dataset}"}]
        pod["volumes"] = [{"name": "dataset", "persistentVolumeClaim": {"claimName": spec.dataset}}]
        label = dataset_label(namespace, spec.dataset)
        term = {"matchExpressions": [{"key": label, "operator": "In", "values": ["true"]}]}
        pod["affinity"] = {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "preference": term}
                ]
            }
        }
    metadata: dict[str, Any] = {"labels": {"tidewise.io/job": spec.name}}
    if spec.checkpointable:  # on its pods too: co-location evicts checkpointable ones first
        metadata["annotations"] = {"tidewise.io/checkpointable": "true"}
    return {"metadata": metadata, "spec": pod}


def render(spec: JobSpec, namespace: str = "default") -> dict[str, Any]:
    """The object to create for ``spec``: a Job, or a PyTorchJob when it has workers."""
    if not spec.distributed:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _metadata(spec, namespace),
            "spec": {
                "suspend": True,
                "backoffLimit": 0,
                "template": _pod_template(spec, namespace, "train", "Never"),
            },
        }

    def replica(count: int) -> dict[str, Any]:
        template = _pod_template(spec, namespace, PYTORCH_CONTAINER, "OnFailure")
        return {"replicas": count, "restartPolicy": "OnFailure", "template": template}

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": _metadata(spec, namespace),
        "spec": {
            "runPolicy": {"suspend": True},
            "pytorchReplicaSpecs": {
                "Master": replica(1),
                "Worker": replica(spec.workers - 1),
            },
        },
    }
