"""A container's share from its pod: whole GPUs sliced among containers, limits per
container, and every unreadable pod refused by name."""

import pytest

from tests.kube.deviceplugin.fakes import pod
from tidewise.kube.api.annotations import GPU_INDEX
from tidewise.kube.deviceplugin.share import ContainerShare, ShareError, share_of


def placed(body: dict, indices: str) -> dict:
    body["metadata"]["annotations"] = {GPU_INDEX: indices}
    return body


def test_each_container_of_a_share_gets_the_pod_s_gpu_with_its_own_limits():
    body = placed(
        pod(
            "p",
            {"nvidia.com/gpumem": "2048", "nvidia.com/gpucores": "10"},
            {"aliyun.com/gpu-mem": "3", "nvidia.com/gpucores": "20"},
            {"nvidia.com/gpu": "1"},
        ),
        "2",
    )
    assert share_of(body, "c0", 4) == ContainerShare("ns/p", "c0", (2,), 2048, 10)
    assert share_of(body, "c1", 4) == ContainerShare("ns/p", "c1", (2,), 3072, 20)
    assert share_of(body, "c2", 4) == ContainerShare("ns/p", "c2", (2,), 0, 0)


def test_whole_gpus_are_sliced_in_container_order_and_init_containers_start_at_the_first():
    two, one = {"aliyun.com/gpu-count": "2"}, {"aliyun.com/gpu-count": "1"}
    body = placed(pod("p", two, one, init=two), "3,0,1")
    assert share_of(body, "c0", 4).gpus == (3, 0)
    assert share_of(body, "c1", 4).gpus == (1,)
    assert share_of(body, "init", 4) == ContainerShare("ns/p", "init", (3, 0), whole=True)


@pytest.mark.parametrize(
    ("asks", "indices", "says"),
    [
        ({"aliyun.com/gpu-count": "2"}, "0", "asks for 2 whole GPUs, but"),
        ({"nvidia.com/gpucores": "120"}, "0", "nvidia.com/gpucores not in 0-100"),
        ({"nvidia.com/gpucores": "20"}, "", "is not a comma-separated list"),
        ({"nvidia.com/gpucores": "20"}, "-1", "names GPU -1"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_pod(asks, indices, says):
    with pytest.raises(ShareError) as refused:
        share_of(placed(pod("bad", asks), indices), "c0", 4)
    assert "pod ns/bad" in str(refused.value) and says in str(refused.value)
