"""Dominant resource fairness on the DRF paper's own example (Ghodsi et al., NSDI'11, §4)."""

from tests.factories import node, queued
from tests.queue.test_gang import plan
from tidewise.model import InstanceType, JobSpec, Resources
from tidewise.queue import QueueConfig, QueuePolicy
from tidewise.queue.drf import DominantShares

# 9 CPUs and 18 GB in all; user A's tasks need <1 CPU, 4 GB>, user B's <3 CPUs, 1 GB>
NINE_CPUS = InstanceType("c9", vcpus=9, memory_mib=18 * 1024)
TASK_A = Resources(cpu_milli=1000, memory_mib=4 * 1024)
TASK_B = Resources(cpu_milli=3000, memory_mib=1024)


def test_progressive_filling_gives_a_three_tasks_and_b_two():
    """By hand: A1 (A 2/9), B1 (B 1/3), A2 (A 4/9), B2 (B 2/3), A3 (A 2/3); then 9 CPUs are
    taken. Both end with a dominant share of 2/3: A's memory 12/18, B's CPU 6/9."""
    queues = (QueueConfig("A", ()), QueueConfig("B", ()))
    jobs = [queued(JobSpec(f"a{i}", TASK_A, queue="A"), i) for i in range(5)]
    jobs += [queued(JobSpec(f"b{i}", TASK_B, queue="B"), i) for i in range(5)]
    result = plan([node(NINE_CPUS, "n1")], jobs, policy=QueuePolicy(queues))
    assert [a.job for a in result.admit] == ["a0", "b0", "a1", "b1", "a2"]
    shares = DominantShares(queues, [node(NINE_CPUS, "n1")], [])
    for admit in result.admit:
        shares.add(next(j.spec for j in jobs if j.name == admit.job))
    assert shares.share("A") == shares.share("B") == 2 / 3


def test_a_weight_divides_the_share():
    queues = (QueueConfig("A", (), weight=2.0), QueueConfig("B", ()))
    shares = DominantShares(queues, [node(NINE_CPUS, "n1")], [])
    shares.add(JobSpec("a", TASK_A, queue="A"))
    shares.add(JobSpec("b", TASK_A, queue="B"))
    assert shares.share("A") == shares.share("B") / 2 == (4 / 18) / 2
