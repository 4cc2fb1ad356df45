"""Pods and nodes read in the engine's units, by the resource names users run."""

import re
import time

import pytest

from tests.kube.api.factories import gpu_node, pod, share, whole
from tidewise.kube.api.annotations import gpu_annotations, recorded_gpus
from tidewise.kube.api.resources import (
    GPU_MEM,
    PodRequestError,
    cpu_and_memory,
    is_managed,
    node_capacity,
    pod_request,
    pod_requests,
    pod_resources,
)
from tidewise.model import Resources


def test_quantities_are_read_as_kubernetes_reads_them():
    p = pod("a", **{GPU_MEM: "8"})
    p["spec"]["containers"][0]["resources"]["requests"].update(cpu="500m", memory="1e3")
    requests = pod_requests(p)
    assert (requests["cpu"], requests["memory"], requests[GPU_MEM]) == (0.5, 1000, 8)


def test_an_unreadable_or_absurd_quantity_refuses_the_pod_at_once():
    with pytest.raises(PodRequestError, match=f"^{GPU_MEM}: .*not a Kubernetes quantity"):
        pod_request(pod("a", **{GPU_MEM: "lots"}))
    with pytest.raises(PodRequestError, match="K is no Kubernetes suffix"):
        pod_request(pod("b", **{GPU_MEM: "8K"}))
    started = time.perf_counter()
    with pytest.raises(PodRequestError, match="out of range"):
        pod_request(pod("c", **{"aliyun.com/gpu-count": "1e300000"}))
    assert time.perf_counter() - started < 0.5  # the Decimal reader took seconds


def test_hami_share_gpushare_memory_and_whole_gpus():
    assert pod_request(share("a", 25, 4096)) == Resources(
        1000, 1024, gpu_milli=250, gpu_memory_mib=4096
    )
    assert pod_request(pod("b", **{GPU_MEM: "8"})) == Resources(1000, 1024, gpu_memory_mib=8192)
    assert pod_request(whole("c", 2)) == Resources(1000, 1024, gpu_count=2)
    assert pod_request(pod("d")) == Resources(1000, 1024)


def test_init_containers_count_at_their_largest_not_summed():
    p = share("a", 50, 1024)
    big = {"cpu": "3", "memory": "512Mi"}
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": big}}]
    assert pod_request(p).cpu_milli == 3000
    assert pod_request(p).memory_mib == 1024


def test_requests_the_extender_cannot_place_are_refused():
    with pytest.raises(PodRequestError, match="whole GPUs"):
        pod_request(pod("a", **{"aliyun.com/gpu-count": "1", "nvidia.com/gpucores": "50"}))
    with pytest.raises(PodRequestError, match="more than one GPU"):
        pod_request(pod("b", **{"nvidia.com/gpu": "2", "nvidia.com/gpumem": "1024"}))


def test_a_hami_share_of_all_the_cores_is_the_gpu_whole():
    p = pod("a", **{"nvidia.com/gpucores": "100", "nvidia.com/gpumem": "2048"})
    assert pod_request(p) == Resources(1000, 1024, gpu_count=1, gpu_memory_mib=2048)


def test_what_a_refused_pod_still_takes_is_its_cpu_and_memory():
    assert pod_resources(share("s", 25, 4096)) == pod_request(share("s", 25, 4096))
    refused = pod("a", **{"aliyun.com/gpu-count": "1", "nvidia.com/gpucores": "50"})
    assert cpu_and_memory(refused) == pod_resources(refused) == Resources(1000, 1024)
    assert cpu_and_memory(pod("b", cpu="1e300000")) == Resources()


def test_only_pods_asking_for_managed_resources_are_the_extenders():
    assert is_managed(share("a", 25, 1024))
    assert is_managed(whole("b", 1))
    assert not is_managed(pod("c", **{"nvidia.com/gpu": "1"}))


def test_node_gpus_from_gpushare_capacity_and_gpu_feature_discovery_labels():
    assert node_capacity(gpu_node("n", gpus=4, gib_per_gpu=24)) == Resources(
        32000, 131072, gpu_count=4, gpu_model="A10", gpu_memory_mib=24576
    )
    labelled = gpu_node("m", gpus=2)
    labelled["metadata"]["labels"]["nvidia.com/gpu.memory"] = "15360"
    assert node_capacity(labelled).gpu_memory_mib == 15360


@pytest.mark.parametrize(
    ("where", "key", "value", "named"),
    [
        ("labels", "nvidia.com/gpu.memory", "lots", "label nvidia.com/gpu.memory='lots'"),
        ("labels", "nvidia.com/gpu.memory", "1" * 400, "is not a whole number of MiB"),
        ("allocatable", "aliyun.com/gpu-count", "1e300000", "allocatable aliyun.com/gpu-count:"),
        ("allocatable", "memory", "12X", "allocatable memory:"),
    ],
)
def test_an_unreadable_node_field_is_named_in_the_error(where, key, value, named):
    node = gpu_node("n")
    fields = node["metadata"]["labels"] if where == "labels" else node["status"]["allocatable"]
    fields[key] = value
    with pytest.raises(ValueError, match=re.escape(named)):
        node_capacity(node)


def test_annotations_as_gpushare_writes_them_and_read_back():
    shape = Resources(1000, 1024, gpu_milli=250, gpu_memory_mib=4096)
    written = gpu_annotations(shape, (2,), 16384, 1_700_000_000_000_000_000)
    assert written == {
        "ALIYUN_COM_GPU_MEM_IDX": "2",
        "ALIYUN_COM_GPU_MEM_POD": "4",
        "ALIYUN_COM_GPU_MEM_DEV": "16",
        "ALIYUN_COM_GPU_MEM_ASSIGNED": "false",
        "ALIYUN_COM_GPU_MEM_ASSUME_TIME": "1700000000000000000",
    }
    assert recorded_gpus({"metadata": {"annotations": written}}) == (2,)
    assert recorded_gpus({"metadata": {"annotations": {"ALIYUN_COM_GPU_MEM_IDX": "0,3"}}}) == (0, 3)
    assert recorded_gpus({"metadata": {"annotations": {"ALIYUN_COM_GPU_MEM_IDX": "x"}}}) is None
