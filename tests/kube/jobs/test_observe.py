"""The queue's reading of the cluster: jobs, what admitted jobs hold, and nodes."""

import numpy as np

from tidewise.kube.jobs.observe import ADMITTED, admission_record, job_spec, snapshot
from tidewise.model import Bind, JobPhase, JobSpec, Resources
from tidewise.queue import QueuePolicy, whole_cluster_queue
from tidewise.queue.manifests import render

STAMP = "2026-11-28T10:00:00Z"


def node(name, gpus):
    return {
        "metadata": {
            "name": name,
            "labels": {"nvidia.com/gpu.product": "A100"},
            "creationTimestamp": STAMP,
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def job(name, gpus, workers=1, admitted=None):
    spec = JobSpec(name, Resources(1000, 1024, gpu_count=gpus), workers=workers, image="img")
    body = render(spec, "team")
    body["metadata"]["creationTimestamp"] = STAMP
    if admitted is not None:
        body["spec"]["suspend"] = False
        body["metadata"]["annotations"][ADMITTED] = admitted
    return body


def plan(nodes, pods, jobs):
    seen = snapshot(0.0, nodes, pods, jobs)
    return seen, QueuePolicy((whole_cluster_queue({"A100": 8}, "default"),)).plan(
        seen, np.random.default_rng(0)
    )


def test_the_spec_comes_back_from_the_rendered_object():
    spec = job_spec(job("train", 2))
    assert (spec.name, spec.worker.gpu_count, spec.image, spec.queue) == (
        "team/train",
        2,
        "img",
        "default",
    )


def test_an_admitted_job_whose_pods_are_not_bound_yet_keeps_its_gpus():
    # 'first' was promised all 8 GPUs a moment ago; the scheduler has not bound its pod yet
    promised = admission_record(0.0, "A100", [Bind("team/first-0", "g", tuple(range(8)))])
    seen, decided = plan([node("g", 8)], [], [job("first", 8, admitted=promised), job("next", 1)])
    assert seen.nodes[0].gpu_free_milli == (0,) * 8
    first = next(j for j in seen.jobs if j.name == "team/first")
    assert first.phase is JobPhase.PENDING and first.flavor == "A100"
    assert [a.job for a in decided.admit] == []
    assert [w.job for w in decided.waiting] == ["team/next"]


def test_a_job_that_fits_is_admitted_and_one_that_cannot_waits_with_a_reason():
    _, decided = plan([node("g", 4)], [], [job("big", 8), job("small", 1)])
    assert [a.job for a in decided.admit] == ["team/small"]
    (waiting,) = decided.waiting
    assert waiting.job == "team/big" and waiting.position == 1 and waiting.reason
