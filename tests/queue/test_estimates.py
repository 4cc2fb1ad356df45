"""EASY backfilling with run-time estimates, on nodes and on quota; smallest GPU-time first.

busy_cluster: n1 has 2 GPUs free (r1, 6 GPUs), n2 has 3 free (r2, 5 GPUs). With estimates,
r1 ends at 1000 + 5000 and r2 at 1000 + 2000: an 8-GPU head starts on n2 at t = 3000.
"""

import numpy as np

from tests.factories import job_spec, queued
from tests.queue.test_admission import QUEUES, busy_cluster
from tidewise.queue import (
    FlavorQuota,
    Ordering,
    QueueConfig,
    QueuePolicy,
    QueueSnapshot,
    WaitKind,
)

EASY = QueuePolicy(QUEUES, Ordering.EASY)
NOW = 1000.0


def plan(jobs, remaining, policy=EASY, nodes=None):
    nodes = nodes if nodes is not None else busy_cluster()[0]
    snapshot = QueueSnapshot(NOW, tuple(nodes), tuple(jobs), {}, remaining)
    return policy.plan(snapshot, np.random.default_rng(0))


def test_easy_backfills_a_job_that_ends_before_the_head_starts_and_no_other():
    nodes, running = busy_cluster()
    jobs = [
        *running,
        queued(job_spec("head", 8), 10),
        queued(job_spec("long", 3), 20),  # fits only n2 (3 free), would end at 1000 + 9000
        queued(job_spec("short", 3), 30),  # same, but ends at 1000 + 1500
    ]
    remaining = {"r1": 5000, "r2": 2000, "head": 100, "short": 1500, "long": 9000}
    result = plan(jobs, remaining, nodes=nodes)
    assert [a.job for a in result.admit] == ["short"]
    head, long = result.waiting
    assert head.reason.endswith("are reserved for it, expected to start in 0.6 h")
    assert long.kind is WaitKind.RESERVED


def test_without_estimates_easy_lets_no_job_onto_the_reserved_nodes():
    nodes, running = busy_cluster()
    jobs = [*running, queued(job_spec("head", 8), 10), queued(job_spec("short", 3), 20)]
    result = plan(jobs, {}, nodes=nodes)
    assert result.admit == ()


def test_quota_is_held_for_the_head_and_lent_only_to_jobs_that_give_it_back_in_time():
    # 12 GPUs of quota, 11 in use (r1, 6 GPUs, until 6000; r2, 5, until 3000): the 6-GPU
    # head gets its quota when r2 ends, all 12 then in use; so a 1-GPU job ending by then
    # may take the last GPU now, a longer one may not
    queues = (QueueConfig("default", (FlavorQuota.gpus("A100", 12),)),)
    nodes, running = busy_cluster()
    jobs = [
        *running,
        queued(job_spec("head", 6), 10),
        queued(job_spec("long", 1), 20),
        queued(job_spec("short", 1), 30),
    ]
    remaining = {"r1": 5000, "r2": 2000, "head": 100, "long": 9000, "short": 1000}
    for ordering in (Ordering.EASY, Ordering.TIDEWISE):
        result = plan(jobs, remaining, QueuePolicy(queues, ordering), nodes)
        assert [a.job for a in result.admit] == ["short"]
        waiting = {w.job: w for w in result.waiting}
        assert waiting["head"].kind is WaitKind.QUOTA
        assert waiting["head"].reason.endswith("held for it, expected to start in 0.6 h")
        if ordering is Ordering.EASY:  # considered before short, and kept off the held GPU
            assert waiting["long"].reason.startswith("would take quota held for head")
        else:  # smallest GPU-time first: short took the GPU before long was considered
            assert waiting["long"].kind is WaitKind.QUOTA


def test_tidewise_starts_the_smallest_gpu_time_first():
    nodes, running = busy_cluster()  # 5 GPUs free in all
    jobs = [
        *running,
        queued(job_spec("wide-short", 2), 10),  # 2 GPUs x 100 s
        queued(job_spec("narrow-long", 1), 20),  # 1 GPU x 10000 s
        queued(job_spec("mid", 2), 30),  # 2 GPUs x 1000 s
    ]
    remaining = {"r1": 5000, "r2": 2000, "wide-short": 100, "narrow-long": 10_000, "mid": 1000}
    result = plan(jobs, remaining, QueuePolicy(QUEUES, Ordering.TIDEWISE), nodes)
    assert [a.job for a in result.admit] == ["wide-short", "mid", "narrow-long"]
