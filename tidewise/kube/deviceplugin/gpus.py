"""The node's GPUs as NVML reports them, behind an interface small enough to fake.

Why an interface of our own: the plugin needs four facts of each GPU (index, UUID, model,
memory) and NVML's critical Xid events, nothing else; a fake that gives those lets every
test run without a GPU, and keeps ``pynvml`` (nvidia-ml-py) out of every module but this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tidewise.kube.api.gpu import Gpu

APPLICATION_XIDS = frozenset({13, 31, 43, 45, 68, 109})
"""Xids a program causes while the GPU stays sound (graphics engine exception, memory page
fault, GPU stopped processing, preemptive cleanup, video processor exception, context switch
timeout): they never mark a GPU unhealthy. The list NVIDIA's device plugin ignores
(NVIDIA/k8s-device-plugin ``internal/rm/health.go``, after NVIDIA's Xid catalogue)."""


@dataclass(frozen=True, slots=True)
class XidEvent:
    """A critical Xid; ``uuid`` ``None`` when NVML could not say which GPU (all are suspect)."""

    uuid: str | None
    xid: int


class Nvml(Protocol):
    def gpus(self) -> list[Gpu]: ...

    def wait_xid(self, timeout_s: float) -> XidEvent | None:
        """Block until a critical Xid event or the timeout (``None``)."""
        ...

    def close(self) -> None: ...


class NvmlUnavailable(RuntimeError):
    """NVML cannot start here: no driver, or the container was not given the GPUs."""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class PyNvml:
    """NVML through nvidia-ml-py; one instance per process (NVML init is process-wide)."""

    def __init__(self) -> None:
        import pynvml

        self._nvml: Any = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise NvmlUnavailable(
                f"NVML is not available ({error}): run on a node with the NVIDIA driver, in a "
                "container given the GPUs (NVIDIA_VISIBLE_DEVICES=all)"
            ) from None
        self._events: Any = None
        self._by_handle: dict[int, str] = {}

    def gpus(self) -> list[Gpu]:
        nvml = self._nvml
        found = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            total = nvml.nvmlDeviceGetMemoryInfo(handle).total
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            found.append(Gpu(index, uuid, _text(nvml.nvmlDeviceGetName(handle)), total >> 20))
        return found

    def _event_set(self) -> Any:
        """Created on first use: the GPUs that support Xid events, registered for them."""
        nvml = self._nvml
        if self._events is None:
            self._events = nvml.nvmlEventSetCreate()
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                try:
                    nvml.nvmlDeviceRegisterEvents(
                        handle, nvml.nvmlEventTypeXidCriticalError, self._events
                    )
                except nvml.NVMLError_NotSupported:
                    continue  # too old for event reporting: only a dead daemon can mark it
                self._by_handle[_handle_key(handle)] = _text(nvml.nvmlDeviceGetUUID(handle))
        return self._events

    def wait_xid(self, timeout_s: float) -> XidEvent | None:
        nvml = self._nvml
        events = self._event_set()
        try:
            data = nvml.nvmlEventSetWait_v2(events, int(timeout_s * 1000))
        except nvml.NVMLError_Timeout:
            return None
        if data.eventType != nvml.nvmlEventTypeXidCriticalError:
            return None
        return XidEvent(self._by_handle.get(_handle_key(data.device)), int(data.eventData))

    def close(self) -> None:
        if self._events is not None:
            self._nvml.nvmlEventSetFree(self._events)
            self._events = None
        self._nvml.nvmlShutdown()


def _handle_key(handle: Any) -> int:
    """A device handle as a dictionary key: the address it points at."""
    import ctypes

    return ctypes.cast(handle, ctypes.c_void_p).value or 0
