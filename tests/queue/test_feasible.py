"""Which jobs could never start: the admission policy asked about the job alone on empty
nodes, so the answer and its reason are the queue's own."""

from tests.factories import A100X8, job_spec, node
from tidewise.model import Resources
from tidewise.queue import FlavorQuota, QueueConfig, QueuePolicy, WaitKind
from tidewise.queue.feasible import never_starts

NODES = [node(A100X8, "n1"), node(A100X8, "n2")]
POLICY = QueuePolicy(
    (
        QueueConfig("team-a", (FlavorQuota.gpus("A100", 12),)),
        QueueConfig("team-b", (FlavorQuota.gpus("A100", 4),)),
    )
)


def test_a_job_the_empty_cluster_can_host_may_start():
    assert never_starts(job_spec("ok", 4, workers=3, queue="team-a"), POLICY, NODES) is None


def test_a_queue_that_does_not_exist_is_named():
    never = never_starts(job_spec("lost", 1, queue="team-c"), POLICY, NODES)
    assert never is not None and never.kind is WaitKind.NO_QUEUE
    assert "'team-c' does not exist" in never.reason


def test_more_gpus_than_the_queue_could_ever_give_is_a_quota_wait_forever():
    never = never_starts(job_spec("big", 8, workers=13, queue="team-a"), POLICY, NODES)
    assert never is not None and never.kind is WaitKind.QUOTA
    assert "needs 104 GPUs" in never.reason


def test_a_worker_larger_than_any_node_never_fits():
    never = never_starts(job_spec("wide", 9, queue="team-a"), POLICY, NODES)
    assert never is not None and never.kind is WaitKind.NO_FIT
    assert "at most 8 on one node" in never.reason


def test_cpu_only_workers_never_start_on_a_cluster_of_gpu_nodes():
    cpu_only = job_spec("etl", worker=Resources(cpu_milli=4000, memory_mib=16384), queue="team-a")
    never = never_starts(cpu_only, POLICY, NODES)
    assert never is not None and never.kind is WaitKind.NO_FIT
