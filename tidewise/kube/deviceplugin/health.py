"""Each GPU's health: the problems that make it unhealthy now, and a way to wait for change.

Why problems rather than a flag: two independent watchers mark a GPU (a critical Xid from
NVML, which stays until the plugin restarts, as in NVIDIA's plugin, and a dead MPS control
daemon, which clears once the daemon answers again), and one must not clear the other's mark.
Every ListAndWatch stream waits on :meth:`GpuHealth.changed` and resends its list.
"""

from __future__ import annotations

import asyncio
import logging

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin.gpus import APPLICATION_XIDS, Nvml

log = logging.getLogger(__name__)

DAEMON_DOWN = "its MPS control daemon does not answer"


class GpuHealth:
    """Problems per GPU index; use from the event loop's thread."""

    def __init__(self, indices: list[int]) -> None:
        self._problems: dict[int, set[str]] = {i: set() for i in indices}
        self.version = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def problems(self, gpu: int) -> frozenset[str]:
        return frozenset(self._problems[gpu])

    def healthy(self, gpu: int) -> bool:
        return not self._problems[gpu]

    def mark(self, gpu: int, problem: str) -> None:
        if problem not in self._problems[gpu]:
            log.warning("GPU %d unhealthy: %s", gpu, problem)
            self._problems[gpu].add(problem)
            self._bump()

    def clear(self, gpu: int, problem: str) -> None:
        if problem in self._problems[gpu]:
            self._problems[gpu].discard(problem)
            log.info("GPU %d: no longer: %s", gpu, problem)
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def changed(self, seen: int) -> int:
        """Wait until the version differs from ``seen``; the new version."""
        while self.version == seen:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        return self.version


async def watch_xids(nvml: Nvml, gpus: list[Gpu], health: GpuHealth) -> None:
    """Mark GPUs that report a critical Xid not caused by a program (forever).

    NVML's wait blocks, so it runs in a worker thread, one second at a time; an error of the
    wait itself marks every GPU, as NVIDIA's plugin does: the driver may be gone.
    """
    by_uuid = {gpu.uuid: gpu.index for gpu in gpus}
    while True:
        try:
            event = await asyncio.to_thread(nvml.wait_xid, 1.0)
        except Exception as error:
            for gpu in gpus:
                health.mark(gpu.index, f"NVML event wait failed: {error}")
            await asyncio.sleep(1.0)
            continue
        if event is None or event.xid in APPLICATION_XIDS:
            continue
        if event.uuid is None:
            suspects = list(by_uuid.values())  # NVML could not say which: all are suspect
        elif event.uuid in by_uuid:
            suspects = [by_uuid[event.uuid]]
        else:
            continue  # not one of ours
        for index in suspects:
            health.mark(index, f"critical Xid {event.xid}")
