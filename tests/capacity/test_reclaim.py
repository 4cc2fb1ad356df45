"""The co-location rule: what a node lends to batch pods and which batch pods give it back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.capacity.reclaim import BatchPod, ReclaimRule, evictions, reclaimable
from tidewise.model import Resources

RULE = ReclaimRule(margin=0.25, evict_margin=0.1)


def res(cpu: int, memory: int) -> Resources:
    return Resources(cpu_milli=cpu, memory_mib=memory)


def test_a_node_lends_what_online_pods_requested_above_their_peak_and_its_margin() -> None:
    # web asks 4 CPU / 8 GiB, peaked at 1.2 CPU / 3 GiB: 4000 - 1500 and 8192 - 3840
    assert reclaimable(res(4000, 8192), res(1200, 3072), RULE) == res(2500, 4352)


def test_the_forecast_raises_what_online_pods_keep_when_it_is_above_the_peak() -> None:
    lent = reclaimable(res(4000, 8192), res(1200, 3072), RULE, forecast=res(2000, 1024))
    assert lent == res(1500, 4352)  # CPU kept for the forecast, memory for the peak


def test_nothing_is_lent_when_online_pods_use_more_than_they_asked() -> None:
    assert reclaimable(res(1000, 1024), res(1500, 2048), RULE) == res(0, 0)


def test_the_margin_is_rounded_in_the_online_pods_favour() -> None:
    # 333 m * 1.25 = 416.25 m: 417 m kept, never 416
    assert reclaimable(res(1000, 0), res(333, 0), RULE).cpu_milli == 583


def test_an_evict_margin_above_the_lending_margin_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="evict_margin must be between 0 and margin"):
        ReclaimRule(margin=0.1, evict_margin=0.2)


def pod(name: str, cpu: int, started: float, checkpointable: bool = False) -> BatchPod:
    return BatchPod(name, res(cpu, 512), started, checkpointable)


def test_nothing_is_evicted_while_batch_pods_fit_under_the_evict_margin() -> None:
    batch = [pod("a", 1000, 0), pod("b", 1000, 10)]
    # lent at peak 1.2 CPU: 2.5 CPU; usage now 1.6 CPU: room 4000 - 1760 = 2240 >= 2000
    assert evictions(res(4000, 8192), res(1600, 1024), batch, RULE) == []


def test_checkpointable_pods_go_first_then_the_newest_until_the_rest_fit() -> None:
    batch = [
        pod("old", 1000, started=0),
        pod("new", 1000, started=50),
        pod("ckpt-old", 1000, started=10, checkpointable=True),
        pod("ckpt-new", 1000, started=40, checkpointable=True),
    ]
    # usage now 1 CPU: room 4000 - 1100 = 2900; batch asks 4000: evict 2 pods
    chosen = evictions(res(4000, 8192), res(1000, 1024), batch, RULE)
    assert [p.name for p in chosen] == ["ckpt-new", "ckpt-old"]
    # usage now 2.5 CPU: room 1250: three must go, the checkpointable then the newest
    chosen = evictions(res(4000, 8192), res(2500, 1024), batch, RULE)
    assert [p.name for p in chosen] == ["ckpt-new", "ckpt-old", "new"]


def test_memory_pressure_alone_evicts() -> None:
    batch = [BatchPod("a", res(100, 2048), 0), BatchPod("b", res(100, 2048), 5)]
    # memory room 8192 - 1.1 * 4096 = 3686 MiB: both (4096) do not fit, one does
    assert [p.name for p in evictions(res(4000, 8192), res(100, 4096), batch, RULE)] == ["b"]


sizes = st.integers(min_value=0, max_value=64_000)


@given(
    requested=st.tuples(sizes, sizes),
    peak=st.tuples(sizes, sizes),
    cpus=st.lists(st.integers(min_value=1, max_value=8000), max_size=8),
)
def test_what_is_lent_at_the_peak_is_never_taken_back_at_that_same_usage(
    requested: tuple[int, int], peak: tuple[int, int], cpus: list[int]
) -> None:
    """Batch pods admitted up to the lent amount survive while usage stays at its peak."""
    lent = reclaimable(res(*requested), res(*peak), RULE)
    batch, used = [], 0
    for i, cpu in enumerate(cpus):
        if used + cpu <= lent.cpu_milli:
            batch.append(BatchPod(f"p{i}", res(cpu, 0), float(i)))
            used += cpu
    assert evictions(res(*requested), res(*peak), batch, RULE) == []


@given(
    requested=st.tuples(sizes, sizes),
    now=st.tuples(sizes, sizes),
    cpus=st.lists(st.integers(min_value=0, max_value=8000), max_size=8),
)
def test_what_stays_after_evictions_fits_and_no_more_is_evicted_than_needed(
    requested: tuple[int, int], now: tuple[int, int], cpus: list[int]
) -> None:
    batch = [BatchPod(f"p{i}", res(cpu, cpu // 4), float(i)) for i, cpu in enumerate(cpus)]
    chosen = evictions(res(*requested), res(*now), batch, RULE)
    left = [p for p in batch if p not in chosen]
    room = reclaimable(res(*requested), res(*now), ReclaimRule(0.1, 0.1))
    assert sum(p.requests.cpu_milli for p in left) <= room.cpu_milli or not left
    assert sum(p.requests.memory_mib for p in left) <= room.memory_mib or not left
    if chosen:  # the last pod taken was needed: without it the rest did not fit
        kept = [*left, chosen[-1]]
        assert (
            sum(p.requests.cpu_milli for p in kept) > room.cpu_milli
            or sum(p.requests.memory_mib for p in kept) > room.memory_mib
        )


def test_from_the_allocatable_a_node_also_lends_what_no_online_pod_requested() -> None:
    # 8 CPU / 16 GiB node, online pods ask 4 CPU / 8 GiB and peaked at 1.2 CPU / 3 GiB:
    # 8000 - 1500 and 16384 - 3840; without the allocatable, only the requests' part
    lent = reclaimable(res(4000, 8192), res(1200, 3072), RULE, allocatable=res(8000, 16384))
    assert lent == res(6500, 12544)
    assert reclaimable(res(4000, 8192), res(1200, 3072), RULE) == res(2500, 4352)


def test_from_the_allocatable_evictions_take_back_only_past_the_node() -> None:
    batch = [BatchPod("b1", res(3000, 1024), 0.0), BatchPod("b2", res(3000, 1024), 1.0)]
    # online uses 2 CPU: 8000 - 2200 = 5800 of room: the newest (b2) goes, not both
    chosen = evictions(res(4000, 8192), res(2000, 2048), batch, RULE, allocatable=res(8000, 16384))
    assert [p.name for p in chosen] == ["b2"]
    # from the requests alone (4000 - 2200 = 1800 of room) both go
    assert len(evictions(res(4000, 8192), res(2000, 2048), batch, RULE)) == 2
