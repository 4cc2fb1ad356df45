"""``tidewise device-plugin``: find the GPUs, serve a plugin per resource, register them,
keep the MPS daemons and GPU health, and register again whenever the kubelet restarts.

Why the kubelet is watched by polling its socket: a restarted kubelet re-creates
``kubelet.sock`` and deletes every other socket in its folder (ours included), and forgets
its plugins; a plugin must then serve on fresh sockets and register again. Checking the
socket's identity (device, inode) and our sockets' presence once a second catches that, and
needs nothing beyond ``os.stat``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from tidewise.kube.deviceplugin import devices
from tidewise.kube.deviceplugin.allocator import Allocator, KubeletSource, PodSource
from tidewise.kube.deviceplugin.environment import HAMI_CORE, MPS, NONE, Isolation, MpsPaths
from tidewise.kube.deviceplugin.gpus import Nvml
from tidewise.kube.deviceplugin.health import GpuHealth, watch_xids
from tidewise.kube.deviceplugin.mps import CONTROL, MpsDaemons
from tidewise.kube.deviceplugin.server import ResourcePlugin, register, serve_all, socket_name

log = logging.getLogger(__name__)

AUTO = "auto"
KUBELET_FOLDER = Path("/var/lib/kubelet/device-plugins")


class PluginError(ValueError):
    """The plugin cannot start as configured; one line naming the option and the fix."""


@dataclass(frozen=True)
class PluginSettings:
    mode: str = AUTO  # mps, hami-core, none; auto: hami-core if the library is there, else mps
    folder: Path = KUBELET_FOLDER  # the kubelet's device plugin folder (kubelet.sock in it)
    mps_root: Path = Path("/run/tidewise/mps")
    hami_library: Path = Path("/usr/local/vgpu/libvgpu.so")
    resources: tuple[str, ...] = devices.RESOURCES
    gpu_split: int = 10  # nvidia.com/gpu devices per GPU (HAMi's deviceSplitCount)
    mps_control: str = CONTROL
    mps_period_s: float = 5.0
    pre_start_deadline_s: float = 20.0  # under the kubelet's 30 s PreStartContainer timeout
    watch_period_s: float = 1.0

    @property
    def kubelet_socket(self) -> Path:
        return self.folder / "kubelet.sock"


def resolve_mode(settings: PluginSettings) -> str:
    """The isolation mode to run: ``auto`` picks HAMi-core where the node has its library,
    else MPS where its control program is installed, else none."""
    if settings.mode != AUTO:
        if settings.mode not in (MPS, HAMI_CORE, NONE):
            raise PluginError(f"--mode: {settings.mode!r}; one of auto, mps, hami-core, none")
        return settings.mode
    if settings.hami_library.is_file():
        return HAMI_CORE
    if shutil.which(settings.mps_control):
        return MPS
    return NONE


def _socket_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


class DevicePlugin:
    """Everything the command runs, built from the GPUs NVML reports."""

    def __init__(
        self, settings: PluginSettings, nvml: Nvml, pods: PodSource, kubelet: KubeletSource
    ) -> None:
        self.settings, self.nvml = settings, nvml
        self.gpus = nvml.gpus()
        if not self.gpus:
            raise PluginError("NVML reports no GPU on this node: nothing to advertise")
        unknown = [r for r in settings.resources if r not in devices.RESOURCES]
        if unknown:
            choices = ", ".join(devices.RESOURCES)
            raise PluginError(f"--resources: {unknown[0]} is not served; choose from {choices}")
        if settings.gpu_split < 1:
            raise PluginError("--gpu-split: a whole number of at least 1")
        self.mode = resolve_mode(settings)
        self.isolation = Isolation(self.mode, MpsPaths(settings.mps_root), settings.hami_library)
        self.health = GpuHealth([gpu.index for gpu in self.gpus])
        self.allocator = Allocator(self.gpus, self.isolation, pods, kubelet, self.health)
        self.daemons: MpsDaemons | None = None
        if self.mode == MPS:
            self.daemons = MpsDaemons(
                self.gpus, self.isolation.mps, self.health, settings.mps_control
            )
        self.plugins = [self._plugin(resource) for resource in settings.resources]

    def _plugin(self, resource: str) -> ResourcePlugin:
        ids = devices.device_ids(resource, self.gpus, self.settings.gpu_split)
        if devices.list_size(ids) > devices.KUBELET_MESSAGE_LIMIT:
            raise PluginError(
                f"--resources: {resource} would list {len(ids):,} devices on this node, over "
                "the 4 MiB the kubelet reads at once; leave it out (docs/device-plugin.md)"
            )
        pre_start = self._daemons_ready if self.daemons is not None else None
        return ResourcePlugin(resource, ids, self.allocator, self.health, pre_start)

    async def _daemons_ready(self, gpus: tuple[int, ...]) -> str:
        """A share must not start before its GPU's MPS daemon answers: without one, CUDA
        runs the client outside MPS, with no limits at all."""
        assert self.daemons is not None
        if await self.daemons.ready(gpus, self.settings.pre_start_deadline_s):
            return ""
        return f"the MPS control daemon of GPU(s) {list(gpus)} does not answer yet"

    async def run(self) -> None:
        """Run until cancelled."""
        log.info(
            "%d GPU(s) %s; isolation %s; serving %s",
            len(self.gpus),
            [gpu.model for gpu in self.gpus],
            self.mode,
            ", ".join(self.settings.resources),
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(watch_xids(self.nvml, self.gpus, self.health))
            if self.daemons is not None:
                group.create_task(self.daemons.supervise(self.settings.mps_period_s))
            group.create_task(self.keep_registered())

    async def keep_registered(self) -> None:
        """Serve and register; do both again whenever the kubelet restarts (forever). A
        resource whose registration fails is tried again alone, at the next round: the
        others keep serving."""
        settings = self.settings
        servers: Sequence[grpc.aio.Server] = []
        pending: list[ResourcePlugin] = []
        registered_with: tuple[int, int] | None = None
        sockets = [settings.folder / socket_name(p.resource) for p in self.plugins]
        try:
            while True:
                kubelet = _socket_identity(settings.kubelet_socket)
                lost = servers and not all(s.exists() for s in sockets)
                if kubelet is not None and (kubelet != registered_with or lost):
                    await _stop(servers)
                    servers = await serve_all(self.plugins, settings.folder)
                    pending, registered_with = list(self.plugins), kubelet
                for plugin in list(pending):
                    try:
                        await register(
                            settings.kubelet_socket, plugin, socket_name(plugin.resource)
                        )
                    except (grpc.aio.AioRpcError, OSError) as error:
                        log.warning("registering %s failed (%s); again", plugin.resource, error)
                        break
                    pending.remove(plugin)
                    log.info("registered %s with the kubelet", plugin.resource)
                await asyncio.sleep(settings.watch_period_s)
        finally:  # the MPS daemons stay: a plugin started again adopts them
            await _stop(servers)
            for socket in sockets:
                socket.unlink(missing_ok=True)


async def _stop(servers: Sequence[grpc.aio.Server]) -> None:
    await asyncio.gather(*(server.stop(None) for server in servers))
