import pytest

from tidewise.sim.jobs.trace import JobTraceError, TraceWindow, gang, load_job_trace

HEADER = "#job id,arrival time (sec),topology,shape,size,duration (sec)\n"


@pytest.mark.parametrize(
    ("gpus", "shape"), [(1, (1, 1)), (8, (1, 8)), (16, (2, 8)), (12, (2, 6)), (20, (4, 5))]
)
def test_wide_jobs_become_the_fewest_equal_workers_of_at_most_a_node(gpus, shape):
    assert gang(gpus) == shape


def test_a_window_is_cut_thinned_and_capped(tmp_path):
    path = tmp_path / "jobs.csv"
    rows = [f"{i},{100 * i}.0,CLOS,1,{16 if i == 4 else 1},{60 * i}.0\n" for i in range(10)]
    path.write_text(HEADER + "".join(rows))
    jobs, dropped = load_job_trace(path, TraceWindow(start_s=200, hours=0.15, sample=2, max_gpus=8))
    # arrivals 200..700 are in the window (it ends at 200 + 540 s); every second one is kept:
    # ids 2, 4, 6; 4 is too wide
    assert [j.spec.name for j in jobs] == ["job-2", "job-6"]
    assert [j.arrival_s for j in jobs] == [0, 400]
    assert dropped == 1


def test_a_file_that_is_not_a_job_trace_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n")
    with pytest.raises(JobTraceError, match="expected 6 columns"):
        load_job_trace(path, TraceWindow())


def test_thinning_to_a_load_keeps_arrival_order_and_stays_within_the_target():
    from tidewise.model import JobSpec, Resources
    from tidewise.sim.jobs.trace import TraceJob, offered_gpu_hours, thin_to_load

    jobs = [
        TraceJob(JobSpec(f"job-{i}", Resources(gpu_count=1 + i % 4)), 60.0 * i, 3600.0 * (1 + i))
        for i in range(40)
    ]
    target = 0.4 * offered_gpu_hours(jobs)
    kept = thin_to_load(jobs, target, seed=1)
    assert [j.arrival_s for j in kept] == sorted(j.arrival_s for j in kept)
    # first fit in a seeded order: within the target, and no job left out would still fit
    total = offered_gpu_hours(kept)
    assert total <= target
    smallest_left = min(offered_gpu_hours([j]) for j in jobs if j not in kept)
    assert total + smallest_left > target
    assert thin_to_load(jobs, target, seed=1) == kept
    assert thin_to_load(jobs, target, seed=2) != kept
    # the part of each job's run before a horizon
    assert offered_gpu_hours(jobs[:1], horizon_s=1800) == 0.5
