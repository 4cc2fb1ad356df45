"""What each resource advertises per GPU, which devices are preferred, and the kubelet's
message limit."""

import pytest

from tests.kube.deviceplugin.fakes import FakeNvml, a10s
from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin import DevicePlugin, PluginError, PluginSettings
from tidewise.kube.deviceplugin.devices import device_ids, preferred, units


def test_units_per_gpu_follow_each_resource_s_unit():
    gpu = Gpu(0, "GPU-x", "NVIDIA A10", 23028)  # what NVML reports for an A10
    assert units("aliyun.com/gpu-mem", gpu, 10) == 22  # whole GiB only
    assert units("nvidia.com/gpumem", gpu, 10) == 23028
    assert units("nvidia.com/gpucores", gpu, 10) == 100
    assert units("nvidia.com/gpu", gpu, 7) == 7
    assert units("aliyun.com/gpu-count", gpu, 10) == 1


def test_device_ids_name_their_gpu():
    ids = device_ids("nvidia.com/gpu", a10s(2), 3)
    assert ids == {"0-0": 0, "0-1": 0, "0-2": 0, "1-0": 1, "1-1": 1, "1-2": 1}


def test_preferred_devices_are_the_required_then_those_of_the_chosen_gpus():
    available = ["0-0", "1-0", "2-0", "1-1", "2-1", "0-1"]
    assert preferred(available, ["0-0"], 3, (2,)) == ["0-0", "2-0", "2-1"]
    assert preferred(available, [], 3, (1, 0)) == ["1-0", "1-1", "0-0"]
    assert preferred(available, [], 2, ()) == ["0-0", "1-0"]


def test_a_resource_too_large_for_the_kubelet_s_message_is_refused_by_name():
    big = [Gpu(i, f"GPU-{i}", "NVIDIA H200", 143771) for i in range(8)]

    async def pods():
        return []

    settings = PluginSettings(mode="none")
    with pytest.raises(PluginError) as refused:
        DevicePlugin(settings, FakeNvml(big), pods, pods)
    assert str(refused.value).startswith("--resources: nvidia.com/gpumem would list 1,150,168")
    fits = PluginSettings(mode="none", resources=("aliyun.com/gpu-mem", "nvidia.com/gpucores"))
    assert len(DevicePlugin(fits, FakeNvml(big), pods, pods).plugins) == 2
