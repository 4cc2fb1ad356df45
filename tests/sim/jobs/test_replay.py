"""The job twin: restarts from checkpoints, lost work, the elastic pool, dataset cold reads.

Times by hand: a pass runs at the next multiple of 10 s after an event; a start costs 60 s
(``restart_s``), plus 600 s (``cold_read_s``) without the dataset cached; checkpoints every
1800 s of run time; a node boots in 300 s and goes after 600 s idle.
"""

import pytest

from tests.factories import A100X8, offering
from tidewise.model import JobSpec, PurchaseOption, Resources
from tidewise.queue import FlavorQuota, Ordering, QueueConfig, QueuePolicy
from tidewise.sim.jobs.replay import JobReplay, PoolSettings
from tidewise.sim.jobs.trace import TraceJob

POLICY = QueuePolicy((QueueConfig("default", (FlavorQuota.gpus("A100", 8),)),))
ON_DEMAND = offering(A100X8, price=32.0)
SPOT = offering(A100X8, PurchaseOption.SPOT, price=8.0)
FIXED = PoolSettings(gpus=8, on_demand=ON_DEMAND)
ELASTIC = PoolSettings(gpus=8, on_demand=ON_DEMAND, spot=SPOT, elastic=True)


def trace_job(name, gpus, arrival_s, duration_s, **extra):
    spec = JobSpec(name, Resources(cpu_milli=1000, memory_mib=1024, gpu_count=gpus), **extra)
    return TraceJob(spec, arrival_s, duration_s)


def replay(jobs, pool=FIXED, seed=0):
    twin = JobReplay(jobs, POLICY, pool, "tidewise", seed)
    return twin, twin.run()


@pytest.mark.parametrize(
    ("checkpointable", "lost_gpu_s", "a_finishes_s"),
    [
        # worked 4000 - 60 = 3940 s; kept 2 checkpoints (3600 s), lost 340 s on 8 GPUs;
        # restarts at 5060 (b's end) + 60 and runs the 6400 s left
        (True, 340 * 8, 5060 + 60 + 6400),
        # nothing kept: all 3940 s lost, and all 10000 s run again
        (False, 3940 * 8, 5060 + 60 + 10000),
    ],
)
def test_a_preempted_job_restarts_from_its_last_checkpoint(
    checkpointable, lost_gpu_s, a_finishes_s
):
    a = trace_job("a", 8, 0, 10_000, checkpointable=checkpointable)
    b = trace_job("b", 8, 4000, 1000, priority=10)  # preempts a at 4000, ends 4000 + 60 + 1000
    twin, result = replay([a, b])
    assert twin.runs["a"].restarts == 1
    assert twin.runs["a"].lost_gpu_s == pytest.approx(lost_gpu_s)
    assert twin.runs["a"].finished_s == pytest.approx(a_finishes_s)
    assert result.lost_gpu_hours == pytest.approx(lost_gpu_s / 3600)
    assert result.avg_jct_s == pytest.approx((a_finishes_s + 1060) / 2)


def test_the_elastic_pool_buys_a_node_for_a_waiting_job_and_goes_back_to_zero():
    job = trace_job("j", 1, 0, 1000)  # not checkpointable: on demand
    twin, result = replay([job], ELASTIC)
    # bought at 0, Ready at 300, job 300..1360, idle until 1960, released
    (node,) = twin.nodes.values()
    assert node.node.offering.option is PurchaseOption.ON_DEMAND
    assert node.removed_s == 1960
    assert result.avg_wait_s == 300
    assert result.cost_usd == pytest.approx(32.0 * 1960 / 3600)
    assert result.gpu_hours == pytest.approx(8 * 1960 / 3600)


def test_checkpointable_jobs_go_to_spot_and_survive_interruptions():
    job = trace_job("j", 8, 0, 3 * 3600, checkpointable=True)
    pool = PoolSettings(
        gpus=8, on_demand=ON_DEMAND, spot=SPOT, elastic=True, interruptions_per_hour=1.0
    )
    twin, result = replay([job], pool, seed=3)
    assert result.jobs == 1
    assert result.interruptions >= 1
    assert all(e.node.offering.option is PurchaseOption.SPOT for e in twin.nodes.values())
    run = twin.runs["j"]
    assert 1 <= run.restarts <= result.interruptions  # a node may go while booting or idle
    assert run.lost_gpu_s <= result.interruptions * 1800 * 8  # at most a checkpoint each


def test_a_cold_read_is_charged_only_where_the_dataset_is_not_cached():
    first = trace_job("first", 1, 0, 100, dataset="imagenet")
    second = trace_job("second", 1, 1000, 100, dataset="imagenet")
    twin, _ = replay([first, second])
    assert twin.runs["first"].finished_s == 60 + 600 + 100
    assert twin.runs["second"].finished_s == 1000 + 60 + 100


def test_utilisation_counts_only_while_a_job_waits():
    """One 8-GPU node; a holds 4 GPUs 0..10060; b (8 GPUs) waits 10..10060 with 4 of 8 busy."""
    a = trace_job("a", 4, 0, 10_000)
    b = trace_job("b", 8, 10, 100)
    _, result = replay([a, b])
    assert result.gpu_utilization == pytest.approx(0.5)


def test_the_policy_sees_run_time_estimates_from_the_trace():
    """b (8 GPUs) waits for a (4 GPUs, 10,000 s); c (4 GPUs, 500 s) ends before a does and
    backfills beside it; d (4 GPUs, 50,000 s) would not and waits for b."""
    a = trace_job("a", 4, 0, 10_000)
    b = trace_job("b", 8, 10, 100)
    d = trace_job("d", 4, 20, 50_000)
    c = trace_job("c", 4, 30, 500)
    easy = QueuePolicy(POLICY.queues, Ordering.EASY)
    twin = JobReplay([a, b, c, d], easy, FIXED, "easy")
    twin.run()
    assert twin.runs["c"].first_start_s == 30
    assert twin.runs["b"].first_start_s == 10_060  # when a ends (0 + 60 + 10,000)
    assert twin.runs["d"].first_start_s > twin.runs["b"].first_start_s
