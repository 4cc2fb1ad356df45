"""Pods and nodes as the API server and kube-scheduler send them (plain JSON)."""

from tidewise.kube.api.resources import GPU_COUNT, GPU_MEM, HAMI_GPU_CORES, HAMI_GPU_MEM


def gpu_node(name, gpus=4, gib_per_gpu=16, model="A10", cpu="32", memory="128Gi", created=""):
    allocatable = {
        "cpu": cpu,
        "memory": memory,
        "pods": "110",
        GPU_COUNT: str(gpus),
        GPU_MEM: str(gpus * gib_per_gpu),
    }
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"nvidia.com/gpu.product": model},
        },
        "status": {"capacity": allocatable, "allocatable": allocatable},
    }


def pod(name, uid=None, node=None, annotations=None, phase="Pending", **requests):
    """``requests`` by resource name; ``cpu``/``memory`` default to 1 and 1Gi."""
    wanted = {"cpu": "1", "memory": "1Gi", **requests}
    spec = {"containers": [{"name": "main", "resources": {"requests": wanted, "limits": wanted}}]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid or f"uid-{name}",
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": {"phase": phase},
    }


def share(name, cores, mib, **kw):
    """A HAMi-style share: ``cores`` percent of one GPU and ``mib`` of its memory."""
    return pod(name, **{HAMI_GPU_CORES: str(cores), HAMI_GPU_MEM: str(mib)}, **kw)


def whole(name, gpus, **kw):
    return pod(name, **{GPU_COUNT: str(gpus)}, **kw)
