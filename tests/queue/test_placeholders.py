"""Placeholders for gangs that wait for nodes: in the queue's order, within quota and within
what the node pools may still buy."""

import numpy as np

from tests.factories import A100X8, bound, job_spec, node, queued
from tidewise.model import InstanceType, Resources
from tidewise.queue import (
    FlavorQuota,
    Ordering,
    QueueConfig,
    QueuePolicy,
    QueueSnapshot,
    WaitKind,
)
from tidewise.queue.placeholders import Hold, gpus_to_buy, placeholder_holds

A100X4 = InstanceType(
    "a100x4", vcpus=48, memory_mib=589_824, gpu_count=4, gpu_model="A100", gpu_memory_mib=40960
)


def queue(gpus: int) -> tuple[QueueConfig, ...]:
    return (QueueConfig("default", (FlavorQuota.gpus("A100", gpus),)),)


def holds(nodes, jobs, room, gpus=16, ordering=Ordering.BEST_EFFORT_FIFO):
    """The pass's plan and the holds it leads to."""
    queues = queue(gpus)
    snapshot = QueueSnapshot(0.0, tuple(nodes), tuple(jobs))
    result = QueuePolicy(queues, ordering).plan(snapshot, np.random.default_rng(0))
    return result, placeholder_holds(snapshot, result, queues, room)


def test_a_gang_no_node_hosts_gets_places_for_all_its_gpus():
    jobs = [queued(job_spec("big", 4, workers=2))]
    result, got = holds([], jobs, {"A100": 16})
    assert [w.kind for w in result.waiting] == [WaitKind.NO_FIT]
    assert got == (Hold("big", "A100", 8),)


def test_no_places_beyond_the_pools_room_and_no_later_gang_passes_one_that_does_not_fit():
    jobs = [queued(job_spec("big", 8), 0.0), queued(job_spec("small", 2), 1.0)]
    assert holds([], jobs, {"A100": 4})[1] == ()
    assert holds([], jobs, {"A100": 10})[1] == (Hold("big", "A100", 8), Hold("small", "A100", 2))
    assert holds([], jobs, {"A100": 9})[1] == (Hold("big", "A100", 8),)


def test_room_of_another_gpu_model_buys_nothing():
    assert holds([], [queued(job_spec("big", 8))], {"V100": 64})[1] == ()


def test_gangs_are_charged_to_quota_in_turn_so_quota_for_one_holds_places_for_one():
    jobs = [queued(job_spec("a", 8), 0.0), queued(job_spec("b", 8), 1.0)]
    result, got = holds([], jobs, {"A100": 16}, gpus=8)
    assert [w.kind for w in result.waiting] == [WaitKind.NO_FIT, WaitKind.NO_FIT]
    assert got == (Hold("a", "A100", 8),)


def test_running_jobs_and_this_pass_s_admissions_count_against_quota():
    nodes = [node(A100X8, "n1"), node(A100X4, "n2")]
    running = bound(nodes, job_spec("run", 8), [("n1", tuple(range(8)))])
    jobs = [running, queued(job_spec("big", 8), 0.0), queued(job_spec("small", 4), 1.0)]
    result, got = holds(nodes, jobs, {"A100": 16}, gpus=19)
    assert [a.job for a in result.admit] == ["small"]
    assert result.waiting_for("big").kind is WaitKind.NO_FIT
    assert got == ()  # 8 running + 4 admitted + 8 > 19
    assert holds(nodes, jobs, {"A100": 16}, gpus=20)[1] == (Hold("big", "A100", 8),)


def test_gangs_waiting_for_quota_or_behind_the_head_and_cpu_gangs_get_none():
    cpu = job_spec("cpu", worker=Resources(cpu_milli=64_000, memory_mib=1024))
    jobs = [queued(job_spec("big", 8), 0.0), queued(cpu, 1.0), queued(job_spec("wide", 12), 2.0)]
    result, got = holds([], jobs, {"A100": 64}, gpus=10)
    assert result.waiting_for("wide").kind is WaitKind.QUOTA
    assert got == (Hold("big", "A100", 8),)
    result, got = holds([], jobs, {"A100": 64}, ordering=Ordering.FIFO)
    assert result.waiting_for("wide").kind is WaitKind.BEHIND
    assert got == (Hold("big", "A100", 8),)


def test_a_share_of_a_gpu_needs_a_whole_gpu_bought():
    share = Resources(cpu_milli=1000, memory_mib=1024, gpu_memory_mib=4096)
    assert gpus_to_buy(job_spec("s", worker=share)) == 1
    assert gpus_to_buy(job_spec("w", 4, workers=2)) == 8
    cpu = Resources(cpu_milli=1000, memory_mib=1024)
    assert gpus_to_buy(job_spec("c", worker=cpu)) == 0
