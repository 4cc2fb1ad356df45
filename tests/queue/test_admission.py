"""Order, backfill and the reason every waiting job is given."""

from tests.factories import A100X8, bound, job_spec, node, queued
from tests.queue.test_gang import plan
from tidewise.queue import FlavorQuota, Ordering, QueueConfig, QueuePolicy, WaitKind

QUEUES = (QueueConfig("default", (FlavorQuota.gpus("A100", 32),)),)
TIDEWISE = QueuePolicy(QUEUES, Ordering.TIDEWISE, age_s=3600)
FIFO = QueuePolicy(QUEUES, Ordering.FIFO)
BEST_EFFORT = QueuePolicy(QUEUES, Ordering.BEST_EFFORT_FIFO)


def busy_cluster():
    """n1 has 2 GPUs free (6 busy, started at t=100); n2 has 3 free (5 busy, started t=0)."""
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    r1 = bound(nodes, job_spec("r1", 6), [("n1", tuple(range(6)))], admitted_s=100)
    r2 = bound(nodes, job_spec("r2", 5), [("n2", tuple(range(5)))], admitted_s=0)
    return nodes, [r1, r2]


def test_strict_fifo_holds_every_job_behind_a_head_that_cannot_start():
    nodes, running = busy_cluster()
    big = queued(job_spec("big", 8), 1000)
    small = queued(job_spec("small", 1), 1001)
    result = plan(nodes, [*running, big, small], time_s=1002, policy=FIFO)
    assert result.admit == ()
    head, behind = result.waiting
    assert (head.job, head.position, head.kind) == ("big", 1, WaitKind.NO_FIT)
    assert (behind.job, behind.position, behind.kind) == ("small", 2, WaitKind.BEHIND)
    assert behind.reason == "behind big, the head of queue 'default'"


def test_best_effort_fifo_lets_a_small_job_pass_the_blocked_head():
    nodes, running = busy_cluster()
    jobs = [*running, queued(job_spec("big", 8), 1000), queued(job_spec("small", 1), 1001)]
    result = plan(nodes, jobs, time_s=1002, policy=BEST_EFFORT)
    assert [a.job for a in result.admit] == ["small"]


def test_tidewise_starts_the_fewest_gpus_first_and_reserves_for_the_first_blocked():
    nodes, running = busy_cluster()
    jobs = [
        *running,
        queued(job_spec("four", 4), 1000),
        queued(job_spec("two", 2), 1001),
        queued(job_spec("one", 1), 1002),
    ]
    result = plan(nodes, jobs, time_s=1003, policy=TIDEWISE)
    # one (1 GPU) then two (2 GPUs) start; four does not fit and reserves the node that
    # frees first: the most idle GPUs left, then the most recently started work
    assert [a.job for a in result.admit] == ["one", "two"]
    (waiting,) = result.waiting
    assert waiting.kind is WaitKind.NO_FIT
    assert waiting.reason.endswith("are reserved for it")


def test_backfill_may_not_use_the_nodes_reserved_for_the_head():
    nodes, running = busy_cluster()  # 2 free on n1, 3 on n2
    jobs = [
        *running,
        queued(job_spec("head", 8), 0),  # waited past age_s: first, and blocked
        queued(job_spec("three", 3), 3000),
        queued(job_spec("two", 2), 3001),
    ]
    result = plan(nodes, jobs, time_s=4000, policy=TIDEWISE)
    head, three = result.waiting[0], result.waiting[1]
    assert head.job == "head" and "n2 are reserved for it" in head.reason
    assert (three.job, three.kind) == ("three", WaitKind.RESERVED)
    assert three.reason == "fits only on nodes reserved for head, which is ahead of it"
    assert [(a.job, a.binds[0].node) for a in result.admit] == [("two", "n1")]


def test_an_aged_job_goes_ahead_of_smaller_ones():
    nodes = [node(A100X8, "n1")]
    jobs = [queued(job_spec("small", 1), 5000), queued(job_spec("old-big", 8), 0)]
    result = plan(nodes, jobs, time_s=5000, policy=TIDEWISE)
    assert [a.job for a in result.admit] == ["old-big"]
    assert result.waiting_for("small").kind is WaitKind.NO_FIT


def test_every_waiting_job_has_a_position_and_a_reason():
    nodes, running = busy_cluster()
    queues = (*QUEUES, QueueConfig("tiny", (FlavorQuota.gpus("A100", 1),)))
    jobs = [
        *running,
        queued(job_spec("lost", 1, queue="nowhere"), 1),
        queued(job_spec("over", 2, queue="tiny"), 2),
        queued(job_spec("wide", 9), 3),
    ]
    result = plan(nodes, jobs, time_s=10, policy=QueuePolicy(queues))
    by_job = {w.job: w for w in result.waiting}
    assert by_job["lost"].kind is WaitKind.NO_QUEUE
    assert by_job["lost"].reason == "queue 'nowhere' does not exist (queues: default, tiny)"
    assert by_job["over"].kind is WaitKind.QUOTA
    assert by_job["over"].reason == (
        "quota: queue 'tiny' uses 0 GPU of its 1 GPU of A100; the job needs 2 GPUs"
    )
    assert by_job["wide"].kind is WaitKind.NO_FIT
    assert by_job["wide"].reason.startswith("no fit: needs 9 GPUs on one node")
    assert {w.position for w in result.waiting} == {1}
