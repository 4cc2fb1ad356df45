"""NVML through nvidia-ml-py, against the real module with its C calls replaced (no GPU
here): the functions we call exist and their answers are read right."""

import pynvml
import pytest

from tidewise.kube.deviceplugin.gpus import Gpu, NvmlUnavailable, PyNvml, XidEvent


class Memory:
    total = 24146608128  # bytes: 23028 MiB


class Event:
    def __init__(self, device, kind, data):
        self.device, self.eventType, self.eventData = device, kind, data


@pytest.fixture
def nvml(monkeypatch):
    import ctypes

    handles = [ctypes.c_void_p(1000 + i) for i in range(2)]
    events = [Event(handles[1], pynvml.nvmlEventTypeXidCriticalError, 79)]

    def wait(event_set, timeout_ms):
        if not events:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        return events.pop(0)

    calls = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: 2,
        "nvmlDeviceGetHandleByIndex": lambda i: handles[i],
        "nvmlDeviceGetUUID": lambda h: f"GPU-{handles.index(h)}",
        "nvmlDeviceGetName": lambda h: b"NVIDIA A10",
        "nvmlDeviceGetMemoryInfo": lambda h: Memory(),
        "nvmlEventSetCreate": lambda: "set",
        "nvmlDeviceRegisterEvents": lambda h, kind, s: None,
        "nvmlEventSetWait_v2": wait,
        "nvmlEventSetFree": lambda s: None,
    }
    for name, call in calls.items():
        assert hasattr(pynvml, name), name
        monkeypatch.setattr(pynvml, name, call)
    return PyNvml()


def test_gpus_are_read_with_their_uuid_model_and_memory(nvml):
    assert nvml.gpus() == [
        Gpu(0, "GPU-0", "NVIDIA A10", 23028),
        Gpu(1, "GPU-1", "NVIDIA A10", 23028),
    ]


def test_an_xid_names_its_gpu_and_a_timeout_is_none(nvml):
    assert nvml.wait_xid(0.01) == XidEvent("GPU-1", 79)
    assert nvml.wait_xid(0.01) is None
    nvml.close()


def test_without_a_driver_nvml_is_unavailable_with_a_hint(monkeypatch):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    with pytest.raises(NvmlUnavailable) as missing:
        PyNvml()
    assert "NVIDIA_VISIBLE_DEVICES=all" in str(missing.value)
