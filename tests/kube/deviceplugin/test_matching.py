"""Which container an Allocate is for: the kubelet's listing decides, the API alone only
when it must."""

from tests.kube.deviceplugin.fakes import pod
from tidewise.kube.deviceplugin.matching import Candidate, candidates

HALF = {"nvidia.com/gpumem": "8192"}
QUARTER = {"nvidia.com/gpumem": "4096"}


def names(found: list[Candidate]) -> list[tuple[str, str]]:
    return [(c.pod["metadata"]["name"], c.container) for c in found]


def test_the_container_the_kubelet_holds_without_devices_is_the_one():
    admitted, admitting, waiting = pod("admitted", HALF), pod("admitting", HALF), pod("w", HALF)
    admitted["status"]["phase"] = "Running"
    kubelet = {
        ("ns", "admitted"): {"c0": frozenset({"nvidia.com/gpumem"})},
        ("ns", "admitting"): {"c0": frozenset()},
    }  # "w" is bound but the kubelet has not reached it
    found = candidates([admitted, waiting, admitting], kubelet, "nvidia.com/gpumem", 8192)
    assert names(found) == [("admitting", "c0")]


def test_a_container_asking_another_amount_or_resource_is_not_a_candidate():
    body = pod("p", QUARTER, {"nvidia.com/gpucores": "8192"}, HALF)
    kubelet = {("ns", "p"): {"c0": frozenset(), "c1": frozenset(), "c2": frozenset()}}
    assert names(candidates([body], kubelet, "nvidia.com/gpumem", 8192)) == [("p", "c2")]


def test_without_the_listing_every_pending_pod_asking_the_amount_is_a_candidate():
    running, finished = pod("running", HALF), pod("finished", HALF)
    running["status"]["phase"], finished["status"]["phase"] = "Running", "Succeeded"
    deleting = pod("deleting", HALF)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pods = [running, finished, deleting, pod("a", HALF), pod("b", HALF)]
    assert names(candidates(pods, None, "nvidia.com/gpumem", 8192)) == [("a", "c0"), ("b", "c0")]


def test_init_containers_come_first_as_the_kubelet_serves_them():
    body = pod("p", HALF, init=HALF)
    found = candidates([body], {("ns", "p"): {"c0": frozenset()}}, "nvidia.com/gpumem", 8192)
    assert names(found) == [("p", "init"), ("p", "c0")]
