import json
import math
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.scaling.rightsizing import (
    ContainerKey,
    ContainerPolicy,
    ContainerRequest,
    DecayingHistogram,
    Estimate,
    ExponentialBuckets,
    Recommendation,
    ResourceRecommender,
    RightsizingSettings,
    rightsizing_report,
)

DAY = 86400.0
WEB = ContainerKey("web", "app")
# VPA's memory histogram starts at 10 MB (1e7 bytes) = 9.5367 MiB; buckets grow 5 % each.
FIRST_MIB = 1e7 / 2**20


def cpu_bucket_end(n):
    """End of CPU bucket n = start of n + 1 = 10 m * (1.05**(n+1) - 1) / 0.05."""
    return 10 * (1.05 ** (n + 1) - 1) / 0.05


def mib_bucket_end(n):
    return FIRST_MIB * (1.05 ** (n + 1) - 1) / 0.05


# Bucket of v = floor(log_1.05(v * 0.05 / first + 1)), by hand:
#   CPU 100 m -> log_1.05(1.5) = 8.31 -> 8;  500 m -> log_1.05(3.5) = 25.68 -> 25
#   MiB 300 -> 19.37 -> 19; 400 -> 23.6 -> 23; 1000 -> 37.5 -> 37; 1200 -> 40.0 -> 40;
#   3000 -> 57.7 -> 57


def cpu_buckets():
    return ExponentialBuckets(10.0, 1_000_000.0, 1.05)


def histogram(half_life_s=DAY):
    return DecayingHistogram(cpu_buckets(), half_life_s, 1e-4)


def test_bucket_boundaries_are_vpas_in_millicores_and_mib():
    buckets = cpu_buckets()
    # 0, 10, 10 + 10.5, 20.5 + 11.025, 31.525 + 11.57625
    assert buckets.starts[:5] == pytest.approx([0, 10, 20.5, 31.525, 43.10125])
    # ceil(log_1.05(1e6 * 0.05 / 10 + 1)) + 1 = ceil(174.57) + 1
    assert len(buckets) == 176
    assert buckets.index(20.5) == 2 and buckets.index(20.49) == 1
    assert buckets.index(-3) == 0 and buckets.index(1e9) == 175
    s = RightsizingSettings()
    memory = ExponentialBuckets(s.memory_first_bucket_mib, s.memory_max_mib, 1.05)
    assert memory.starts[1] == pytest.approx(9.5367431640625)
    assert len(memory) == 176  # 1e12 / 1e7 gives the same ratio as 1e6 / 10


def test_percentile_is_the_end_of_the_bucket_reaching_the_fraction():
    h = histogram()
    assert h.percentile(0.9) == 0  # empty
    for value in (5, 15, 25, 35):  # buckets 0, 1, 2, 3, equal weight
        h.add(value, 1.0, 0.0)
    assert h.percentile(0.25) == pytest.approx(10)
    assert h.percentile(0.26) == pytest.approx(20.5)
    assert h.percentile(0.5) == pytest.approx(20.5)
    assert h.percentile(0.9) == pytest.approx(43.10125)
    assert h.percentile(1.0) == pytest.approx(43.10125)


def test_last_bucket_reads_its_start():
    h = histogram()
    h.add(5e6, 1.0, 0.0)
    assert h.percentile(0.5) == cpu_buckets().starts[-1]


def test_a_sample_one_half_life_old_weighs_half():
    h = histogram()
    h.add(5, 1.0, 0.0)
    h.add(35, 1.0, DAY)  # weights 1 : 2, so the older sample is a third of the total
    assert h.percentile(0.33) == pytest.approx(10)
    assert h.percentile(0.34) == pytest.approx(43.10125)


def test_moving_the_reference_keeps_ratios_and_long_runs_finite():
    h = histogram()
    h.add(5, 1.0, 1000 * DAY)  # beyond 2**100: the reference moves
    h.add(35, 1.0, 1001 * DAY)
    assert h.percentile(0.33) == pytest.approx(10)
    assert h.percentile(0.34) == pytest.approx(43.10125)
    long = histogram()
    for k in range(5000):  # 2**5000 would overflow without renormalising
        long.add(5, 1.0, k * DAY)
    long.add(35, 1.0, 5000 * DAY)  # weighs as much as all older samples together (just more)
    assert long.percentile(0.49) == pytest.approx(10)
    assert long.percentile(0.51) == pytest.approx(43.10125)


def test_subtract_takes_a_sample_back():
    h = histogram()
    h.add(5, 1.0, 0.0)
    h.add(35, 1.0, DAY)
    h.subtract(35, 1.0, DAY)
    assert h.percentile(1.0) == pytest.approx(10)
    h.subtract(5, 1.0, 0.0)
    assert h.percentile(1.0) == 0  # empty again


def test_memory_keeps_one_peak_per_pod_and_interval():
    r = ResourceRecommender()
    ramp = [*range(1000, 3001, 20), *[1000] * 100]  # 3000 is the first interval's peak
    for i, memory in enumerate(ramp):
        r.add_usage(WEB, i * 60, 100, memory)
    r.add_usage(WEB, DAY, 100, 1000)  # next interval: a peak of 1000, twice the weight
    # peaks {3000: 2, 1000: 4}: P90 (5.4 of 6) is in 3000's bucket. Were every sample kept, or
    # every peak as it rose, P90 would read a lower bucket.
    assert r.recommend(WEB, DAY).memory_mib.target == math.ceil(mib_bucket_end(57) * 1.15)


def test_each_pod_contributes_its_own_peak():
    r = ResourceRecommender()
    r.add_usage(WEB, 0, 100, 3000, pod="p0")
    for i in range(1, 11):
        r.add_usage(WEB, 0, 100, 1000, pod=f"p{i}")
    # peaks {3000: 1, 1000: 10}: P90 (9.9 of 11) is reached in 1000's bucket; one peak over
    # all pods would read 3000's.
    assert r.recommend(WEB, 0).memory_mib.target == math.ceil(mib_bucket_end(37) * 1.15)


def test_oom_bumps_memory_by_a_ratio_or_a_minimum():
    big, small, stale = ResourceRecommender(), ResourceRecommender(), ResourceRecommender()
    big.add_usage(WEB, 0, 100, 1000)
    big.add_oom(WEB, 60, 1000)  # max(1.2 * 1000, 1000 + 100) = 1200
    assert big.recommend(WEB, 60).memory_mib.target == math.ceil(mib_bucket_end(40) * 1.15)
    small.add_usage(WEB, 0, 100, 300)
    small.add_oom(WEB, 60, 300)  # max(1.2 * 300, 300 + 100) = 400
    assert small.recommend(WEB, 60).memory_mib.target == math.ceil(mib_bucket_end(23) * 1.15)
    stale.add_usage(WEB, 0, 100, 1000)
    stale.add_oom(WEB, 60, 500)  # the interval's usage peak (1000) counts as used
    assert stale.recommend(WEB, 60).memory_mib.target == math.ceil(mib_bucket_end(40) * 1.15)


def test_floors_are_per_pod_and_split_over_containers():
    r = ResourceRecommender()
    r.add_usage(WEB, 0, 1, 1)
    rec = r.recommend(WEB, 0)
    assert (rec.cpu_milli.target, rec.memory_mib.target) == (25, 250)
    assert (rec.cpu_milli.lower, rec.memory_mib.lower) == (25, 250)
    r.add_usage(ContainerKey("web", "sidecar"), 0, 1, 1)
    rec = r.recommend(WEB, 0)
    assert (rec.cpu_milli.target, rec.memory_mib.target) == (13, 125)  # 12.5 rounded up


def test_container_policy_clamps_every_bound():
    r = ResourceRecommender()
    r.add_usage(WEB, 0, 1, 1000)
    rec = r.recommend(WEB, 0, ContainerPolicy(min_cpu_milli=100, max_memory_mib=200))
    assert rec.cpu_milli == Estimate(100, 100, None)
    assert rec.memory_mib == Estimate(200, 200, 200)
    with pytest.raises(ValueError):
        ContainerPolicy(min_cpu_milli=2, max_cpu_milli=1)


def test_bounds_widen_without_history_and_narrow_with_it():
    r = ResourceRecommender()
    r.add_usage(WEB, 0, 500, 1000)
    first = r.recommend(WEB, 0)
    assert first.confidence == 0
    assert first.cpu_milli.upper is None and first.cpu_milli.lower == 25  # 0 x P50, floored
    for minute in range(1, 1441):  # one day at one sample a minute: confidence 1
        r.add_usage(WEB, minute * 60, 500, 1000)
    rec = r.recommend(WEB, DAY)
    assert rec.confidence == pytest.approx(1.0)
    p = cpu_bucket_end(25) * 1.15
    assert rec.cpu_milli == Estimate(
        math.ceil(p * (1 + 0.001) ** -2), math.ceil(p), math.ceil(p * (1 + 1))
    )


def test_confidence_is_limited_by_the_sample_count():
    r = ResourceRecommender()
    r.add_usage(WEB, 0, 500, 1000)
    r.add_usage(WEB, 2 * DAY, 500, 1000)  # two days apart, but two samples, not 2 x 1440
    assert r.recommend(WEB, 2 * DAY).confidence == pytest.approx(2 / 1440)


def test_out_of_order_samples_are_dropped():
    r = ResourceRecommender()
    r.add_usage(WEB, 60, 100, 1000)
    r.add_usage(WEB, 60, 4000, 3000)  # duplicate time: CPU dropped, memory raises the peak
    r.add_usage(WEB, 30, 4000, 5000)  # earlier: both dropped
    rec = r.recommend(WEB, 60)
    assert rec.cpu_milli.target == math.ceil(cpu_bucket_end(8) * 1.15)
    assert rec.memory_mib.target == math.ceil(mib_bucket_end(57) * 1.15)


def test_unknown_and_expired_containers_have_no_recommendation():
    r = ResourceRecommender()
    with pytest.raises(KeyError):
        r.recommend(WEB, 0)
    r.add_usage(WEB, 0, 100, 1000)
    r.recommend(WEB, 8 * DAY - 1)
    with pytest.raises(KeyError):
        r.recommend(WEB, 8 * DAY)


def test_report_arithmetic():
    api = ContainerKey("api", "worker")
    ghost = ContainerKey("batch", "job")

    def rec(cpu, memory):
        return Recommendation(Estimate(cpu, cpu, cpu), Estimate(memory, memory, memory), 3.0)

    report = rightsizing_report(
        [
            ContainerRequest(WEB, replicas=4, cpu_milli=1000, memory_mib=2048),
            ContainerRequest(api, replicas=2, cpu_milli=200, memory_mib=512),
            ContainerRequest(ghost, replicas=1, cpu_milli=100, memory_mib=100),
        ],
        {WEB: rec(300, 1024), api: rec(250, 400)},
        usd_per_vcpu_hour=0.04,
        usd_per_gib_hour=0.005,
    )
    web, worker = report.containers
    # web: (1000 - 300) x 4 = 2800 m, (2048 - 1024) x 4 = 4096 MiB; 2.8 x 0.04 + 4 x 0.005
    assert (web.reclaimable_cpu_milli, web.reclaimable_memory_mib) == (2800, 4096)
    assert web.reclaimable_usd_per_hour == pytest.approx(0.132)
    # worker: CPU 50 m short on each of 2 replicas; memory (512 - 400) x 2 = 224 MiB
    assert (worker.reclaimable_cpu_milli, worker.reclaimable_memory_mib) == (0, 224)
    assert (worker.under_requested_cpu_milli, worker.under_requested_memory_mib) == (100, 0)
    assert worker.reclaimable_usd_per_hour == pytest.approx(224 / 1024 * 0.005)
    assert (report.reclaimable_cpu_milli, report.reclaimable_memory_mib) == (2800, 4320)
    assert report.reclaimable_usd_per_hour == pytest.approx(0.13309375)
    assert report.reclaimable_usd_per_month == pytest.approx(0.13309375 * 730)
    assert report.under_requested_cpu_milli == 100
    assert report.under_requested_usd_per_hour == pytest.approx(0.004)
    assert report.under_requested == (api,)
    assert report.without_recommendation == (ghost,)
    assert json.loads(json.dumps(asdict(report)))["containers"][0]["key"]["workload"] == "web"


samples = st.lists(st.tuples(st.integers(0, 8000), st.integers(0, 64_000)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(
    samples,
    st.integers(60, 6 * 3600),
    st.integers(0, 4000),
    st.integers(0, 16_000),
)
def test_bounds_are_ordered_and_monotone_in_load(usage, step_s, extra_cpu, extra_memory):
    def recommend(cpu_extra, memory_extra):
        r = ResourceRecommender()
        for i, (cpu, memory) in enumerate(usage):
            r.add_usage(WEB, i * step_s, cpu + cpu_extra, memory + memory_extra)
        return r.recommend(WEB, len(usage) * step_s)

    base, more = recommend(0, 0), recommend(extra_cpu, extra_memory)
    for rec in (base, more):
        for estimate in (rec.cpu_milli, rec.memory_mib):
            assert estimate.lower <= estimate.target
            assert estimate.upper is None or estimate.target <= estimate.upper
    for resource in ("cpu_milli", "memory_mib"):
        a, b = getattr(base, resource), getattr(more, resource)
        assert b.lower >= a.lower and b.target >= a.target
        assert b.upper is None or b.upper >= a.upper
