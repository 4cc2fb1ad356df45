import pytest

from tidewise.model import JobPhase, JobSpec, Resources


def test_a_distributed_job_charges_every_workers_gpus():
    spec = JobSpec("bert", Resources(cpu_milli=8000, gpu_count=8), workers=4)
    assert spec.distributed
    assert spec.gpu_milli == 32_000
    assert spec.gpus == 32
    assert spec.pod_names() == (
        "bert-master-0",
        "bert-worker-0",
        "bert-worker-1",
        "bert-worker-2",
    )


def test_a_share_counts_its_milli_and_a_memory_only_share_counts_none():
    assert JobSpec("a", Resources(gpu_milli=250)).gpu_milli == 250
    assert JobSpec("b", Resources(gpu_memory_mib=8192)).gpu_milli == 0
    assert JobSpec("c", Resources(gpu_milli=250)).pod_names() == ("c-0",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "workers must be >= 1"),
        ({"workers": 2, "worker": Resources(gpu_milli=500)}, "whole GPUs"),
        ({"name": ""}, "needs a name"),
    ],
)
def test_bad_specs_are_refused(changes, message):
    args = {"name": "j", "worker": Resources(gpu_count=1), **changes}
    with pytest.raises(ValueError, match=message):
        JobSpec(**args)


def test_only_succeeded_and_failed_are_finished():
    assert [p for p in JobPhase if p.finished] == [JobPhase.SUCCEEDED, JobPhase.FAILED]
