"""The batch load in the week twin: the Spark-like jobs, the layer's placing, evicting and
buying, and the co-location policies' contract with the online replay."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.factories import CPU4, node, offering, pod
from tidewise.capacity.reclaim import ReclaimRule
from tidewise.model import PodPhase, Resources
from tidewise.sim.philly import PhillyRow
from tidewise.sim.services.batch import (
    BatchLayer,
    BatchSettings,
    BatchTask,
    OnlineNode,
    online_nodes,
    spark_like,
)
from tidewise.sim.services.billing import instance_charge
from tidewise.sim.services.runner import prepare, run
from tidewise.sim.services.scenario import BatchSpec, ScenarioError, UsageSpec, load_scenario

EXEC = Resources(cpu_milli=1000, memory_mib=4096)
HOUR = 3600.0


def res(cpu: int, memory: int) -> Resources:
    return Resources(cpu_milli=cpu, memory_mib=memory)


def spec(**extra) -> BatchSpec:
    fields = {"trace": "jobs.csv", "core_hours": 1000, "executor": {"cpu": "1", "memory": "4Gi"}}
    return BatchSpec.model_validate(fields | extra)


def test_each_gpu_of_a_philly_job_is_an_executor_and_run_times_are_cut():
    rows = [PhillyRow(7, 100.0, 2, 3 * HOUR), PhillyRow(8, 200.0, 32, 60.0)]
    tasks = spark_like(rows, spec(start=50, max_duration="2h", max_executors=16), seed=0)
    assert [(t.name, t.arrival_s, t.work_s) for t in tasks] == [
        ("job-7-exec-0", 50.0, 2 * HOUR),
        ("job-7-exec-1", 50.0, 2 * HOUR),
    ] + [(f"job-8-exec-{i}", 150.0, 60.0) for i in range(16)]
    assert {t.requests for t in tasks} == {EXEC}


def test_jobs_are_kept_in_a_seeded_order_within_the_offered_core_hours():
    rows = [PhillyRow(i, 60.0 * i, 1 + i % 3, HOUR) for i in range(40)]
    kept = spark_like(rows, spec(core_hours=20), seed=3)
    offered = sum(t.cores * t.work_s for t in kept) / HOUR
    assert offered <= 20
    assert offered >= 18  # jobs of 1-3 core-hours: the last one that fits leaves < 3
    assert [t.arrival_s for t in kept] == sorted(t.arrival_s for t in kept)
    assert spark_like(rows, spec(core_hours=20), seed=3) == kept
    assert spark_like(rows, spec(core_hours=20), seed=4) != kept


def test_the_checkpointing_share_is_taken_by_job():
    rows = [PhillyRow(i, 0.0, 2, 600.0) for i in range(400)]
    tasks = spark_like(rows, spec(checkpoint_share=0.3, checkpoint_every="5m"), seed=0)
    by_job = {t.job: t.checkpoint_s for t in tasks}
    assert all(t.checkpoint_s == by_job[t.job] for t in tasks)  # both executors alike
    share = sum(v is not None for v in by_job.values()) / len(by_job)
    assert 0.25 < share < 0.35
    assert set(by_job.values()) == {None, 300.0}


def test_a_running_pod_uses_its_request_times_utilisation_and_a_starting_one_all_of_it():
    web = Resources(cpu_milli=1000, memory_mib=2000)
    running = pod(web, "a", node_name="n1")
    starting = pod(web, "b", node_name="n1")
    starting = replace(starting, phase=PodPhase.STARTING)
    usage = {"web": UsageSpec(memory_idle=0.4, memory_at_capacity=0.6)}
    (seen,) = online_nodes([node(CPU4)], [running, starting, pod(web, "c")], {"web": 0.5}, usage)
    assert seen.requested == res(2000, 4000)  # the pending pod is on no node
    assert seen.usage == res(500 + 1000, 1000 + 2000)  # 2000 x (0.4 + 0.2 x 0.5) = 1000
    assert seen.lends


def settings(colocate: bool) -> BatchSettings:
    return BatchSettings(
        colocate=colocate,
        rule=ReclaimRule(margin=0.25, evict_margin=0.1),
        lend_allocatable=False,
        window_minutes=60,
        offerings=(offering(CPU4, price=0.4),),
        boot_s=(60.0, 60.0),
        unneeded_s=30.0,
        horizon_s=10 * HOUR,
    )


def task(name: str, work_s: float, checkpoint_s: float | None = None) -> BatchTask:
    return BatchTask(name, name, EXEC, 0.0, work_s, checkpoint_s)


def online(cpu_used: int) -> list[OnlineNode]:
    """One 4-CPU node whose online pods ask 4 CPU / 12 GiB and use ``cpu_used`` and 2 GiB
    (memory lent: 12288 - 2560 = 9728 MiB, two executors)."""
    return [OnlineNode("n1", CPU4.capacity, res(4000, 12288), res(cpu_used, 2048), True)]


def test_colocation_runs_on_what_online_pods_leave_and_buys_nothing():
    layer = BatchLayer(
        [task("a", 1800.0), task("b", 1800.0)], settings(True), np.random.default_rng(0)
    )
    for minute in range(1, 40):
        layer.step(60.0 * minute, online(1200))  # lends 4000 - 1500 = 2500 m: both fit
    result = layer.finish()
    assert result.done_core_hours == 1.0 and result.jobs_completed == 2
    assert result.shared_core_hours == 1.0
    assert result.cost_usd == 0 and result.own_node_launches == 0
    assert result.evictions == 0 and result.contention_node_minutes == 0


def test_rising_online_usage_evicts_back_to_the_last_checkpoint_and_requeues():
    layer = BatchLayer(
        [task("a", 3 * HOUR, checkpoint_s=600.0)], settings(True), np.random.default_rng(0)
    )
    for minute in range(1, 16):
        layer.step(60.0 * minute, online(1200))  # runs from minute 1 to 15: 14 minutes
    for minute in range(16, 200):
        layer.step(60.0 * minute, online(3500))  # at 16, online needs 3850 m: evicted
    result = layer.finish()
    assert result.evictions == 1
    # 15 minutes run, 10 kept by the checkpoint: 5 minutes of one core lost
    assert result.lost_core_hours == pytest.approx(5 / 60)
    # with no lent room it went to an own node (Ready at 17) and ran the 170 minutes left
    assert result.own_node_launches == 1 and result.jobs_completed == 1
    assert result.done_core_hours == 3.0


def test_a_pod_that_does_not_checkpoint_loses_all_its_work_when_its_node_goes():
    layer = BatchLayer([task("a", 3 * HOUR)], settings(True), np.random.default_rng(0))
    for minute in range(1, 31):
        layer.step(60.0 * minute, online(1200))
    layer.step(31 * 60.0, [])  # the online node went away (scale-down, spot reclaim)
    # ran from minute 1 to the last look at 30; the minute in which the node went is not
    # counted (the layer cannot tell when in it the node went)
    assert layer.finish().lost_core_hours == pytest.approx(29 / 60)


def test_no_colocation_buys_own_nodes_and_pays_for_them_until_they_are_empty():
    layer = BatchLayer([task("a", 1800.0)], settings(False), np.random.default_rng(0))
    for minute in range(1, 60):
        layer.step(60.0 * minute, online(0))
    result = layer.finish()
    # bought at minute 1, Ready and running at minute 2, done and empty at minute 32, given
    # back at minute 33 (30 s unneeded, seen at the next look)
    own = offering(CPU4, price=0.4)
    assert result.own_node_launches == 1 and result.shared_core_hours == 0
    assert result.cost_usd == pytest.approx(
        instance_charge(own, 60.0, 33 * 60.0, 10 * HOUR, 0.4).usd
    )
    assert result.done_core_hours == 0.5


SCENARIO = {
    "name": "c",
    "seed": 3,
    "horizon": "3h",
    "catalog": {"zones": ["use1-az1"]},
    "node_pools": [{"name": "g", "instance_types": ["m6i.xlarge", "m6i.2xlarge"]}],
    "workloads": [
        {
            "name": "web",
            "trace": {"start": "1995-07-10T10:00:00-04:00", "scale": 300},
            "rps_per_replica": 30,
            "requests": {"cpu": "1", "memory": "2Gi"},
            "replicas": {"min": 2, "max": 100},
        }
    ],
    "policies": ["fixed-on-demand", "no-colocation", "colocation"],
    "batch": {
        "trace": "jobs.csv",
        "online": "fixed-on-demand",
        "arrivals": "2h",
        "core_hours": 40,
        "max_duration": "30m",
    },
}


def _write(tmp_path, scenario):
    jobs = "".join(f"{i},{300.0 * i},CLOS,1,{1 + i % 4},1500.0\n" for i in range(24))
    (tmp_path / "jobs.csv").write_text("#job id,arrival,topology,shape,size,duration\n" + jobs)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_colocation_does_the_same_batch_work_cheaper_and_leaves_online_as_it_was(tmp_path):
    report = run(prepare(*load_scenario(_write(tmp_path, SCENARIO))))
    alone, own, shared = report.runs
    assert alone.batch is None and own.batch is not None and shared.batch is not None
    assert own.batch.done_core_hours == shared.batch.done_core_hours == own.batch.offered_core_hours
    assert shared.batch.shared_core_hours > 0
    assert shared.batch.cost_usd < own.batch.cost_usd
    # the online replay is the one without batch: same cost, service and events
    for batch_run in (own, shared):
        online = batch_run.model_dump(exclude={"policy", "batch", "wall_s", "timeseries"})
        assert online == alone.model_dump(exclude={"policy", "batch", "wall_s", "timeseries"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch": None}, "policies[1]: no-colocation replays a batch load; add a batch: section"),
        ({"online": "colocation"}, "batch.online: unknown online policy 'colocation'"),
        ({"reclaim": {"margin": 0.1, "evict_margin": 0.2}}, "batch.reclaim: evict_margin must"),
        ({"trace": "none.csv"}, "batch.trace: .*none.csv"),
        ({"core_hours": 0.1}, "batch: no job of the trace fits in core_hours"),
    ],
)
def test_a_bad_batch_load_is_refused_in_one_line(tmp_path, change, message):
    scenario = copy.deepcopy(SCENARIO)
    if "batch" in change:
        del scenario["batch"]
    else:
        scenario["batch"] |= change
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        prepare(*load_scenario(_write(tmp_path, scenario)))
    assert "\n" not in str(err.value)


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    usage=st.lists(st.integers(0, 4000), min_size=5, max_size=90),
    checkpoint=st.sampled_from([None, 300.0]),
)
def test_evictions_never_leave_batch_past_capacity_and_lose_at_most_a_checkpoint(usage, checkpoint):
    tasks = [task(f"t{i}", 1200.0 * (1 + i), checkpoint) for i in range(3)]
    layer = BatchLayer(tasks, settings(True), np.random.default_rng(0))
    for minute, cpu in enumerate(usage, start=1):
        layer.step(60.0 * minute, online(cpu))
    result = layer.finish()
    assert result.contention_node_minutes == 0  # online use + batch <= capacity at each look
    assert 0 <= result.done_core_hours <= result.offered_core_hours
    if checkpoint is not None:  # each eviction loses less than one checkpoint interval
        assert result.lost_core_hours < result.evictions * checkpoint / HOUR + 1e-9
    else:  # ... or the pod's whole run, at most its work
        assert result.lost_core_hours <= result.evictions * max(t.work_s for t in tasks) / HOUR
    assert result.lost_core_hours == 0 or result.evictions > 0
