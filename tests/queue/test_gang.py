"""Gang admission: all workers placed by the engine, or none admitted."""

import numpy as np

from tests.factories import A100X8, bound, job_spec, node, queued
from tidewise.model import Resources
from tidewise.queue import (
    FlavorQuota,
    Ordering,
    QueueConfig,
    QueuePolicy,
    QueueSnapshot,
    WaitKind,
)

QUEUE = QueueConfig("default", (FlavorQuota.gpus("A100", 16),))
POLICY = QueuePolicy((QUEUE,))


def four_plus_four():
    """Two 8-GPU nodes with 4 GPUs busy on each: 8 GPUs free, 4 + 4."""
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    a = bound(nodes, job_spec("a", 4), [("n1", (0, 1, 2, 3))])
    b = bound(nodes, job_spec("b", 4), [("n2", (0, 1, 2, 3))])
    return nodes, [a, b]


def plan(nodes, jobs, time_s=0.0, policy=POLICY, cached=None):
    snapshot = QueueSnapshot(time_s, tuple(nodes), tuple(jobs), cached or {})
    return policy.plan(snapshot, np.random.default_rng(0))


def test_quota_allows_an_8_gpu_pod_on_4_plus_4_free_but_it_is_not_admitted():
    nodes, running = four_plus_four()
    result = plan(nodes, [*running, queued(job_spec("big", 8))])
    assert result.admit == ()
    (waiting,) = result.waiting
    assert waiting.kind is WaitKind.NO_FIT
    assert "8 GPUs are free but at most 4 on one node" in waiting.reason


def test_two_workers_of_four_fit_the_same_split_one_per_node():
    nodes, running = four_plus_four()
    result = plan(nodes, [*running, queued(job_spec("ddp", 4, workers=2))])
    (admit,) = result.admit
    assert sorted(b.node for b in admit.binds) == ["n1", "n2"]
    assert [b.pod for b in admit.binds] == ["ddp-master-0", "ddp-worker-0"]
    assert all(b.gpu_indices == (4, 5, 6, 7) for b in admit.binds)


def test_a_gang_that_does_not_fully_fit_gets_no_worker_placed():
    nodes, running = four_plus_four()
    gang = queued(job_spec("gang", 4, workers=3), submitted_s=0.0)
    after = queued(job_spec("after", 4, workers=2), submitted_s=1.0)
    in_order = QueuePolicy(
        (QueueConfig("default", (FlavorQuota.gpus("A100", 32),)),), Ordering.BEST_EFFORT_FIFO
    )
    result = plan(nodes, [*running, gang, after], policy=in_order)
    # the gang is considered first; had its first two workers stayed bound, the later job
    # could not have started
    assert [a.job for a in result.admit] == ["after"]
    assert result.waiting_for("gang").kind is WaitKind.NO_FIT


def test_a_job_that_names_a_dataset_goes_to_the_node_caching_it():
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    spec = job_spec("reader", 1, dataset="imagenet")
    result = plan(nodes, [queued(spec)], cached={"imagenet": frozenset({"n2"})})
    assert result.admit[0].binds[0].node == "n2"
    without = plan(nodes, [queued(job_spec("reader", 1))])
    assert without.admit[0].binds[0].node == "n1"


def test_a_job_asking_gpu_memory_alone_never_joins_a_gpu_held_whole():
    # `tidewise job submit --gpumemory 8`: a share of 8 GiB and no milli-GPU
    nodes = [node(A100X8, "n1")]
    held = [(i,) for i in range(7)]
    running = [bound(nodes, job_spec(f"w{i}"), [("n1", gpus)]) for i, gpus in enumerate(held)]
    by_memory = job_spec(
        "mem", worker=Resources(cpu_milli=4000, memory_mib=16384, gpu_memory_mib=8192)
    )
    (admit,) = plan(nodes, [*running, queued(by_memory)]).admit
    assert admit.binds[0].gpu_indices == (7,)
    last = bound(nodes, job_spec("w7"), [("n1", (7,))])
    result = plan(nodes, [*running, last, queued(by_memory)])
    assert result.admit == () and result.waiting[0].kind is WaitKind.NO_FIT
