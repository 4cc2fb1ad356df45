"""Karpenter's scheduling simulation and launch choice (tidewise.capacity.karpenter.scheduling)."""

from dataclasses import replace

from tests.factories import CPU4, CPU8, GPU1, node, offering, pod
from tidewise.capacity.karpenter.scheduling import (
    Catalog,
    launch_offering,
    pod_order,
    simulate,
)
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import GUARANTEED, NodeState, PurchaseOption, Resources

ONE = Resources(cpu_milli=1000, memory_mib=2048)
OD4 = offering(CPU4, price=0.20)
OD8 = offering(CPU8, price=0.35)
SPOT4 = offering(CPU4, PurchaseOption.SPOT, price=0.08)
SPOT8 = offering(CPU8, PurchaseOption.SPOT, price=0.14)
GPU_OD = offering(GPU1, price=1.0)
GPU_SPOT = offering(GPU1, PurchaseOption.SPOT, price=0.4)
ALL = [OD4, OD8, SPOT4, SPOT8, GPU_OD, GPU_SPOT]


def pods(n: int, requests: Resources = ONE, prefix: str = "p") -> list:
    return [pod(requests, f"{prefix}{i}") for i in range(n)]


def launched(batch, nodes=(), offerings=ALL, **catalog) -> list[str]:
    """The offerings Karpenter launches for ``batch``, one per NodeClaim, by key."""
    found = Catalog.of(offerings, **catalog)
    claims = simulate(batch, list(nodes), found).claims
    chosen = [launch_offering(c.offerings(found), found.pools) for c in claims]
    return [o.key for o in chosen if o is not None]


def test_pods_queue_by_cpu_then_memory_largest_first_then_oldest():
    small = pod(Resources(cpu_milli=500, memory_mib=512), "small")
    wide = pod(Resources(cpu_milli=2000, memory_mib=1024), "wide")
    tall = pod(Resources(cpu_milli=2000, memory_mib=4096), "tall")
    young = replace(pod(ONE, "young"), created_s=5.0)
    old = replace(pod(ONE, "old"), created_s=1.0)
    order = pod_order([small, young, wide, old, tall])
    assert [p.name for p in order] == ["tall", "wide", "old", "young", "small"]


def test_a_batch_goes_into_one_claim_while_a_type_holds_it_all_and_buys_the_cheapest_such():
    """Three 1-vCPU pods fit a 4-vCPU node: one spot cpu4. Six fit only the 8-vCPU type, so
    one spot cpu8 (Karpenter grows a claim rather than open a second one)."""
    assert launched(pods(3)) == [SPOT4.key]
    assert launched(pods(6)) == [SPOT8.key]


def test_a_full_claim_opens_another_and_each_takes_the_cheapest_type_for_its_pods():
    assert launched(pods(10)) == [SPOT8.key, SPOT4.key]


def test_the_reserved_overhead_is_taken_from_every_type():
    """kwok reserves 100m CPU: four 1-vCPU pods no longer fit the 4-vCPU type."""
    assert launched(pods(4)) == [SPOT4.key]
    reserved = Resources(cpu_milli=100, memory_mib=10)
    assert launched(pods(4), kube_reserved=reserved) == [SPOT8.key]


def test_pods_that_fit_a_booting_node_buy_nothing():
    booting = replace(node(CPU8, "b", NodeState.LAUNCHING), offering=SPOT8)
    assert launched(pods(8), [booting]) == []
    assert launched(pods(9), [booting]) == [SPOT4.key]


def test_gpu_pods_get_a_gpu_type_and_cpu_pods_never_do():
    gpu = Resources(cpu_milli=1000, memory_mib=2048, gpu_count=1)
    assert launched(pods(2, gpu, "g") + pods(1)) == [GPU_SPOT.key, GPU_SPOT.key, SPOT4.key]


def test_a_pod_pinned_to_on_demand_narrows_the_claim_it_shares_to_on_demand():
    """A capacity-type node selector narrows the NodeClaim's requirements; pods with no
    preference still join it, so the whole claim is bought on-demand."""
    pinned = replace(pod(ONE, "base"), capacity_types=GUARANTEED)
    assert launched([pinned, *pods(2)]) == [OD4.key]
    assert launched([pinned, *pods(4)]) == [OD8.key]


def test_unavailable_offerings_are_not_bought():
    assert launched(pods(3), unavailable=frozenset({SPOT4.key})) == [SPOT8.key]
    gone = frozenset({SPOT4.key, SPOT8.key})
    assert launched(pods(3), unavailable=gone) == [OD4.key]


def test_spot_is_preferred_weighted_by_band_and_never_dearer_than_on_demand():
    pools = SpotPoolRules()
    calm = offering(CPU4, PurchaseOption.SPOT, price=0.100, interruptions_per_hour=0.025 / 730)
    wild = replace(calm, zone="z2", price_per_hour=0.095, interruptions_per_hour=0.25 / 730)
    # wild is 5 % cheaper but its band weighs it 22 % dearer: price-capacity-optimized
    assert launch_offering([OD4, wild, calm], pools) == calm
    # a spot offering dearer than the cheapest on-demand is left out
    dear = replace(calm, price_per_hour=0.25)
    assert launch_offering([OD4, dear], pools) == OD4
    assert launch_offering([OD8, OD4], pools) == OD4
    assert launch_offering([], pools) is None


def test_unplaceable_pods_are_reported_and_buy_nothing():
    huge = Resources(cpu_milli=64000, memory_mib=1024)
    result = simulate([pod(huge, "huge")], [], Catalog.of(ALL))
    assert [p.name for p in result.unplaceable] == ["huge"] and result.claims == []
