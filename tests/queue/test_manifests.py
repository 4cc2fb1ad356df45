"""Rendered manifests checked against the Kubernetes schema, offline.

lightkube's models are generated from the Kubernetes OpenAPI schema (1.37 here) and decode
with msgspec, which refuses missing required fields and wrong types; re-encoding and
comparing with the input catches any field the schema does not know (it would be dropped).
The PyTorchJob CRD is not in that schema: its envelope is checked against the training
operator's API (kubeflow.org/v1: pytorchReplicaSpecs of Master and Worker, restartPolicy one
of Always, OnFailure, Never, ExitCode) and each pod template against the core schema.
"""

import msgspec
import pytest
from lightkube.models.batch_v1 import Job as K8sJob
from lightkube.models.core_v1 import PodTemplateSpec

from tidewise.model import JobSpec, Resources
from tidewise.queue.manifests import render

RESTART_POLICIES = {"Always", "OnFailure", "Never", "ExitCode"}


def valid_job(manifest):
    assert K8sJob.from_dict(manifest).to_dict() == manifest


def valid_template(template):
    assert PodTemplateSpec.from_dict(template).to_dict() == template


def test_a_single_pod_job_is_a_suspended_batch_job_in_its_queue():
    spec = JobSpec(
        "mnist",
        Resources(cpu_milli=500, memory_mib=2048, gpu_memory_mib=8192),
        image="pytorch/pytorch:2.4",
        command=("python", "train.py"),
        queue="team-a",
        dataset="mnist-data",
    )
    manifest = render(spec)
    valid_job(manifest)
    assert manifest["spec"]["suspend"] is True
    assert manifest["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {
        "cpu": "500m",
        "memory": "2048Mi",
        "aliyun.com/gpu-mem": "8",
    }
    assert container["volumeMounts"] == [{"name": "dataset", "mountPath": "/data/mnist-data"}]


def test_workers_make_a_pytorchjob_with_one_master_and_the_rest_workers():
    spec = JobSpec("bert", Resources(cpu_milli=8000, memory_mib=65536, gpu_count=8), workers=4)
    manifest = render(spec)
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert manifest["spec"]["runPolicy"] == {"suspend": True}
    replicas = manifest["spec"]["pytorchReplicaSpecs"]
    assert set(replicas) == {"Master", "Worker"}
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 3)
    for replica in replicas.values():
        assert replica["restartPolicy"] in RESTART_POLICIES
        valid_template(replica["template"])
        (container,) = replica["template"]["spec"]["containers"]
        assert container["name"] == "pytorch"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert replicas["Master"]["template"] is not replicas["Worker"]["template"]


def test_the_check_fails_on_a_broken_manifest():
    manifest = render(JobSpec("j", Resources(gpu_count=1), image="i"))
    del manifest["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(msgspec.ValidationError, match="required field `name`"):
        K8sJob.from_dict(manifest)
    unknown = render(JobSpec("j", Resources(gpu_count=1), image="i"))
    unknown["spec"]["suspendd"] = True
    with pytest.raises(AssertionError):
        valid_job(unknown)


def test_a_checkpointable_job_says_so_on_its_pods_too():
    """Co-location reads it on the pod (tidewise.io/checkpointable): evicted first."""
    for workers in (1, 2):
        spec = JobSpec("etl", Resources(cpu_milli=2000, memory_mib=4096), workers=workers)
        checkpointed = JobSpec(
            "etl", Resources(cpu_milli=2000, memory_mib=4096), workers=workers, checkpointable=True
        )
        plain, marked = render(spec), render(checkpointed)
        for manifest, expected in ((plain, None), (marked, {"tidewise.io/checkpointable": "true"})):
            if workers == 1:
                templates = [manifest["spec"]["template"]]
                valid_job(manifest)
            else:
                replicas = manifest["spec"]["pytorchReplicaSpecs"].values()
                templates = [r["template"] for r in replicas]
            for template in templates:
                valid_template(template)
                assert template["metadata"].get("annotations") == expected
