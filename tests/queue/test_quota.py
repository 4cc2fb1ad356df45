"""Quota per queue and flavour, borrowing from the cohort, and reclaiming what was lent."""

import pytest

from tests.factories import A100X8, bound, job_spec, node, queued
from tests.queue.test_gang import plan
from tidewise.model import Resources
from tidewise.queue import FlavorQuota, QueueConfig, QueuePolicy, WaitKind
from tidewise.queue.quota import Assignment, QuotaBook, Refusal


def cohort(a_borrowing_limit=None, b_lending_limit=None):
    return (
        QueueConfig("a", (FlavorQuota.gpus("A100", 8, a_borrowing_limit),), cohort="lab"),
        QueueConfig("b", (FlavorQuota.gpus("A100", 8, lending_limit=b_lending_limit),), "lab"),
    )


def test_a_queue_borrows_its_cohorts_idle_quota():
    book = QuotaBook(cohort(), [])
    book.charge(job_spec("a1", 8, queue="a"), "A100")
    assert book.assign(job_spec("a2", 4, queue="a")) == Assignment("A100", borrowing=True)


def test_the_borrowing_limit_caps_what_a_queue_may_borrow():
    book = QuotaBook(cohort(a_borrowing_limit=2), [])
    book.charge(job_spec("a1", 8, queue="a"), "A100")
    refusal = book.assign(job_spec("a2", 4, queue="a"))
    assert isinstance(refusal, Refusal)
    assert "8 GPUs of A100 of 8 GPUs nominal + 2 GPUs it may borrow" in refusal.reason
    assert book.assign(job_spec("a3", 2, queue="a")) == Assignment("A100", borrowing=True)


def test_the_lending_limit_keeps_part_of_a_queues_quota_for_itself():
    book = QuotaBook(cohort(b_lending_limit=3), [])
    book.charge(job_spec("a1", 8, queue="a"), "A100")
    assert book.assign(job_spec("a2", 3, queue="a")) == Assignment("A100", borrowing=True)
    refusal = book.assign(job_spec("a3", 4, queue="a"))
    assert isinstance(refusal, Refusal)
    assert "cohort 'lab' has 3 GPUs left to lend; the job needs 4 GPUs" in refusal.reason


def test_without_a_cohort_a_queue_stays_within_nominal():
    book = QuotaBook((QueueConfig("solo", (FlavorQuota.gpus("A100", 8),)),), [])
    book.charge(job_spec("s1", 6, queue="solo"), "A100")
    refusal = book.assign(job_spec("s2", 4, queue="solo"))
    assert refusal == Refusal(
        "quota: queue 'solo' uses 6 GPUs of its 8 GPUs of A100; the job needs 4 GPUs", ()
    )


def test_flavours_are_tried_in_the_queues_order_and_a_model_restricts_them():
    queue = QueueConfig(
        "q", (FlavorQuota.gpus("A100", 4), FlavorQuota.gpus("V100", 8)), cohort=None
    )
    book = QuotaBook((queue,), [])
    assert book.assign(job_spec("j", 4, queue="q")).flavor == "A100"
    assert book.assign(job_spec("k", 6, queue="q")).flavor == "V100"
    pinned = job_spec("p", queue="q", worker=Resources(gpu_count=2, gpu_model="H100"))
    assert book.assign(pinned) == Refusal("queue 'q' has no quota for GPU model H100")


def test_nominal_quota_lent_out_is_reclaimed_from_the_borrower():
    """a runs 8 GPUs within nominal and 4 borrowed from b; b now wants its own 8."""
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    a1 = bound(nodes, job_spec("a1", 8, queue="a"), [("n1", tuple(range(8)))])
    a2 = bound(nodes, job_spec("a2", 4, queue="a"), [("n2", (0, 1, 2, 3))], borrowing=True)
    b1 = queued(job_spec("b1", 8, queue="b"), submitted_s=5.0)
    result = plan(nodes, [a1, a2, b1], time_s=10.0, policy=QueuePolicy(cohort()))
    assert [(p.job, p.by) for p in result.preempt] == [("a2", "b1")]
    assert "reclaimed borrowed quota" in result.preempt[0].reason
    assert [(a.job, a.binds[0].node) for a in result.admit] == [("b1", "n2")]


def test_a_borrower_is_not_evicted_for_a_job_beyond_its_own_queues_nominal():
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    a1 = bound(nodes, job_spec("a1", 8, queue="a"), [("n1", tuple(range(8)))])
    a2 = bound(nodes, job_spec("a2", 4, queue="a"), [("n2", (0, 1, 2, 3))], borrowing=True)
    b0 = bound(nodes, job_spec("b0", 2, queue="b"), [("n2", (4, 5))])
    b1 = queued(job_spec("b1", 8, queue="b"))
    result = plan(nodes, [a1, a2, b0, b1], policy=QueuePolicy(cohort()))
    assert result.preempt == () and result.admit == ()
    assert result.waiting_for("b1").kind is WaitKind.QUOTA


def test_quota_amounts_are_checked():
    with pytest.raises(ValueError, match="nominal_milli must be >= 0"):
        FlavorQuota.gpus("A100", -1)
    with pytest.raises(ValueError, match="cannot lend more than the nominal"):
        FlavorQuota.gpus("A100", 2, lending_limit=3)
    assert FlavorQuota.gpus("A100", 0.5).nominal_milli == 500
