"""Pods and nodes read in the engine's units, by the resource names users run."""

from decimal import Decimal

import pytest

from tests.kube.api.factories import gpu_node, pod, share, whole
from tidewise.kube.api.annotations import gpu_annotations, recorded_gpus
from tidewise.kube.api.resources import (
    GPU_MEM,
    PodRequestError,
    is_managed,
    node_spec,
    pod_shape,
    quantity,
)
from tidewise.placement.gpushare import NodeSpec, PodShape


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2Gi", str(2 * 2**30)), ("1e3", "1000"), ("4", "4"), ("1k", "1000")],
)
def test_quantities(text, value):
    assert quantity(text) == Decimal(value)


def test_a_bad_quantity_is_refused():
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("lots")


def test_hami_share_gpushare_memory_and_whole_gpus():
    assert pod_shape(share("a", 25, 4096)) == PodShape(1000, 1024, 1, 250, None, 4096)
    assert pod_shape(pod("b", **{GPU_MEM: "8"})) == PodShape(1000, 1024, 1, 0, None, 8192)
    assert pod_shape(whole("c", 2)) == PodShape(1000, 1024, 2, 1000, None, 0)
    assert pod_shape(pod("d")) == PodShape(1000, 1024)


def test_init_containers_count_at_their_largest_not_summed():
    p = share("a", 50, 1024)
    big = {"cpu": "3", "memory": "512Mi"}
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": big}}]
    assert pod_shape(p).cpu_milli == 3000
    assert pod_shape(p).memory_mib == 1024


def test_requests_the_extender_cannot_place_are_refused():
    with pytest.raises(PodRequestError, match="whole GPUs"):
        pod_shape(pod("a", **{"aliyun.com/gpu-count": "1", "nvidia.com/gpucores": "50"}))
    with pytest.raises(PodRequestError, match="more than one GPU"):
        pod_shape(pod("b", **{"nvidia.com/gpu": "2", "nvidia.com/gpumem": "1024"}))


def test_only_pods_asking_for_managed_resources_are_the_extenders():
    assert is_managed(share("a", 25, 1024))
    assert is_managed(whole("b", 1))
    assert not is_managed(pod("c", **{"nvidia.com/gpu": "1"}))


def test_node_gpus_from_gpushare_capacity_and_gpu_feature_discovery_labels():
    assert node_spec(gpu_node("n", gpus=4, gib_per_gpu=24)) == NodeSpec(
        "n", 32000, 131072, 4, "A10", 24576
    )
    labelled = gpu_node("m", gpus=2)
    labelled["metadata"]["labels"]["nvidia.com/gpu.memory"] = "15360"
    assert node_spec(labelled).gpu_memory_mib == 15360


def test_annotations_as_gpushare_writes_them_and_read_back():
    shape = PodShape(1000, 1024, 1, 250, None, 4096)
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
