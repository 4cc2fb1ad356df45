"""One MPS control daemon per GPU, started, watched and restarted by the plugin.

Why one per GPU (not one for the node, as NVIDIA's plugin runs per resource): a daemon
confined to one GPU (``CUDA_VISIBLE_DEVICES`` = its UUID) fails alone, is restarted alone,
and marks only its own GPU unhealthy; its clients address that GPU as device 0, the device
their ``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=...`` names.

``nvidia-cuda-mps-control -d`` forks the daemon and returns, so the daemon is not our child:
it is watched the way NVIDIA's plugin checks it (``cmd/mps-control-daemon/mps/daemon.go``
AssertHealthy), by sending a harmless query through the control client
(``get_default_active_thread_percentage``) with the GPU's pipe folder; a failed query marks
the GPU unhealthy and starts the daemon again. A daemon already answering at start-up (a
plugin restarted while its daemons lived on) is adopted, not doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin.environment import MpsPaths
from tidewise.kube.deviceplugin.health import DAEMON_DOWN, GpuHealth

log = logging.getLogger(__name__)

CONTROL = "nvidia-cuda-mps-control"
PROBE = "get_default_active_thread_percentage"


class MpsDaemons:
    """The daemons of ``gpus``; :meth:`supervise` keeps them running."""

    def __init__(
        self,
        gpus: Sequence[Gpu],
        paths: MpsPaths,
        health: GpuHealth,
        control: str = CONTROL,
        timeout_s: float = 10.0,
    ) -> None:
        self.gpus = {gpu.index: gpu for gpu in gpus}
        self.paths, self.health, self.control, self.timeout_s = paths, health, control, timeout_s
        self._locks = {gpu.index: asyncio.Lock() for gpu in gpus}

    def environment(self, gpu: Gpu) -> dict[str, str]:
        return {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": gpu.uuid,
            "CUDA_MPS_PIPE_DIRECTORY": str(self.paths.pipe(gpu)),
            "CUDA_MPS_LOG_DIRECTORY": str(self.paths.log(gpu)),
        }

    async def _run(self, gpu: Gpu, *args: str, stdin: bytes = b"") -> tuple[int, bytes]:
        """Run the control program for ``gpu``; (exit status, output); -1 if it hung."""
        process = await asyncio.create_subprocess_exec(
            self.control,
            *args,
            env=self.environment(gpu),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(stdin), self.timeout_s)
        except (TimeoutError, asyncio.CancelledError) as error:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(error, asyncio.CancelledError):
                raise
            return -1, b""
        return process.returncode or 0, output

    async def answers(self, gpu: Gpu) -> bool:
        status, _ = await self._run(gpu, stdin=f"{PROBE}\n".encode())
        return status == 0

    async def _start(self, gpu: Gpu) -> None:
        for folder in (self.paths.pipe(gpu), self.paths.log(gpu), self.paths.shm):
            folder.mkdir(parents=True, exist_ok=True)
        status, output = await self._run(gpu, "-d")
        if status != 0:
            log.error("GPU %d: %s -d failed (%d): %s", gpu.index, self.control, status, output)

    async def ensure(self, index: int) -> bool:
        """Whether GPU ``index``'s daemon answers, starting it if it did not; health follows."""
        gpu = self.gpus[index]
        async with self._locks[index]:
            if await self.answers(gpu):
                self.health.clear(index, DAEMON_DOWN)
                return True
            self.health.mark(index, DAEMON_DOWN)
            await self._start(gpu)
            if await self.answers(gpu):
                log.info("GPU %d: MPS control daemon started", index)
                self.health.clear(index, DAEMON_DOWN)
                return True
            return False

    async def ready(self, indices: Sequence[int], deadline_s: float) -> bool:
        """Whether the daemons of ``indices`` answer within ``deadline_s`` (retrying)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while True:
            results = await asyncio.gather(*(self.ensure(i) for i in indices))
            if all(results):
                return True
            if loop.time() >= end:
                return False
            await asyncio.sleep(min(0.5, max(0.0, end - loop.time())))

    async def supervise(self, period_s: float) -> None:
        """Every ``period_s``: check each daemon, restart the dead ones (forever)."""
        while True:
            await asyncio.gather(*(self.ensure(i) for i in self.gpus))
            await asyncio.sleep(period_s)

    async def stop(self) -> None:
        """Ask every daemon to quit (its MPS servers stop with it)."""
        for gpu in self.gpus.values():
            await self._run(gpu, stdin=b"quit\n")
