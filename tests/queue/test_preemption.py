"""Who is evicted for whom: borrowed first, lower priority, checkpointable, most recent."""

from tests.factories import A100X8, bound, job_spec, node, queued
from tests.queue.test_gang import plan
from tidewise.model import Job, JobPhase
from tidewise.queue import FlavorQuota, QueueConfig, QueuePolicy
from tidewise.queue.preemption import victim_order, victims_needed

POLICY = QueuePolicy((QueueConfig("default", (FlavorQuota.gpus("A100", 64),)),))


def running(name, priority=0, checkpointable=False, admitted_s=0.0, borrowing=False):
    spec = job_spec(name, priority=priority, checkpointable=checkpointable)
    return Job(spec, JobPhase.RUNNING, 0.0, admitted_s=admitted_s, borrowing=borrowing)


def test_victims_are_ordered_borrowed_then_priority_then_checkpointable_then_newest():
    jobs = [
        running("old-plain", priority=1, admitted_s=10),
        running("new-plain", priority=1, admitted_s=20),
        running("checkpointing", priority=1, checkpointable=True, admitted_s=5),
        running("low", priority=0, admitted_s=1),
        running("borrowed", priority=5, borrowing=True),
    ]
    order = [j.name for j in sorted(jobs, key=victim_order)]
    assert order == ["borrowed", "low", "checkpointing", "new-plain", "old-plain"]


def test_the_victim_set_is_minimised_after_the_greedy_pass():
    a, b, c = running("a"), running("b"), running("c")
    # enough once both a and c are gone; b was taken on the way but is not needed
    needed = victims_needed([a, b, c], lambda vs: {"a", "c"} <= {v.name for v in vs})
    assert [v.name for v in needed] == ["a", "c"]
    assert victims_needed([a, b], lambda vs: False) is None


def test_a_higher_priority_job_evicts_the_checkpointable_one_of_two_equal_victims():
    nodes = [node(A100X8, "n1"), node(A100X8, "n2")]
    plain = bound(nodes, job_spec("plain", 8), [("n1", tuple(range(8)))], admitted_s=50)
    ckpt = bound(
        nodes, job_spec("ckpt", 8, checkpointable=True), [("n2", tuple(range(8)))], admitted_s=10
    )
    urgent = queued(job_spec("urgent", 8, priority=10), submitted_s=60)
    result = plan(nodes, [plain, ckpt, urgent], time_s=60)
    assert [(p.job, p.by) for p in result.preempt] == [("ckpt", "urgent")]
    assert "has higher priority (10 > 0)" in result.preempt[0].reason
    assert result.admit[0].binds[0].node == "n2"


def test_equal_priority_never_preempts():
    nodes = [node(A100X8, "n1")]
    busy = bound(nodes, job_spec("busy", 8), [("n1", tuple(range(8)))])
    result = plan(nodes, [busy, queued(job_spec("same", 8))], time_s=1)
    assert result.preempt == () and result.admit == ()
