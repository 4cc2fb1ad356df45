"""One node in a test: the fake kubelet, the plugin on the fake NVML, the pods the API
server would list; started and stopped at will."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.kube.deviceplugin.fakes import FakeNvml, fake_mps_control, kill_daemons
from tests.kube.deviceplugin.kubelet import FakeKubelet
from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin import DevicePlugin, PluginSettings
from tidewise.kube.deviceplugin.podresources import kubelet_view


@contextlib.contextmanager
def short_folder() -> Iterator[Path]:
    """A fresh folder with a short path: unix socket paths must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="dp", dir="/tmp"))
    try:
        yield folder
    finally:
        kill_daemons(folder / "mps")
        shutil.rmtree(folder, ignore_errors=True)


async def until(what: str, check: Callable[[], bool], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


@dataclass
class Node:
    folder: Path
    gpus: list[Gpu]
    mode: str
    pods: list[dict] = field(default_factory=list)  # what the API server lists for the node
    settings: dict[str, Any] = field(default_factory=dict)
    use_pod_resources: bool = True
    kubelet: FakeKubelet | None = None
    plugin: DevicePlugin | None = None
    nvml: FakeNvml | None = None
    task: asyncio.Task | None = None

    @property
    def library(self) -> Path:
        return self.folder / "libvgpu.so"

    @property
    def mps_root(self) -> Path:
        return self.folder / "mps"

    async def start_kubelet(self) -> FakeKubelet:
        self.kubelet = FakeKubelet(self.folder / "dp", self.folder / "pr" / "kubelet.sock")
        await self.kubelet.start()
        return self.kubelet

    async def start_plugin(self) -> DevicePlugin:
        self.library.write_bytes(b"")
        settings = PluginSettings(
            mode=self.mode,
            folder=self.folder / "dp",
            mps_root=self.mps_root,
            hami_library=self.library,
            mps_control=str(fake_mps_control(self.folder)),
            mps_period_s=1.0,
            watch_period_s=0.05,
            **self.settings,
        )
        socket = self.folder / ("pr" if self.use_pod_resources else "none") / "kubelet.sock"

        async def pods() -> list[dict]:
            return copy.deepcopy(self.pods)

        self.nvml = FakeNvml(self.gpus)
        self.plugin = DevicePlugin(settings, self.nvml, pods, lambda: kubelet_view(socket))
        registered = len(self.kubelet.registrations) if self.kubelet else 0
        self.task = asyncio.get_running_loop().create_task(self.plugin.run())
        if self.kubelet is not None:
            await self.registered(registered + len(settings.resources))
        plugin = self.plugin
        await until(
            "every GPU healthy", lambda: all(plugin.health.healthy(g.index) for g in self.gpus)
        )
        if self.kubelet is not None:  # and the kubelet told so (ListAndWatch resends lag)
            kubelet = self.kubelet
            await until(
                "the kubelet listing every device healthy",
                lambda: all(
                    health == "Healthy"
                    for endpoint in kubelet.endpoints.values()
                    for health in endpoint.devices.values()
                ),
            )
        return plugin

    async def registered(self, count: int) -> None:
        kubelet = self.kubelet
        assert kubelet is not None
        await until(
            f"{count} registrations, devices listed",
            lambda: (
                len(kubelet.registrations) >= count
                and all(e.devices for e in kubelet.endpoints.values())
            ),
        )

    async def stop_plugin(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None

    async def admit(self, body: dict) -> Any:
        """The API server lists the pod, then the kubelet admits it."""
        assert self.kubelet is not None
        if body not in self.pods:
            self.pods.append(body)
        return await self.kubelet.admit(body)


@contextlib.asynccontextmanager
async def node(
    gpus: list[Gpu], mode: str, use_pod_resources: bool = True, **settings: Any
) -> AsyncIterator[Node]:
    with short_folder() as folder:
        running = Node(folder, gpus, mode, settings=settings, use_pod_resources=use_pod_resources)
        await running.start_kubelet()
        await running.start_plugin()
        try:
            yield running
        finally:
            if running.task is not None:
                await running.stop_plugin()
            if running.kubelet is not None:
                await running.kubelet.stop()
