"""One kubelet device plugin per resource: its gRPC service on a unix socket, and its
registration with the kubelet.

Why one server per resource: the API registers one resource name per plugin endpoint
(``RegisterRequest.resource_name``), so serving five resources takes five endpoints; they
share one :class:`~.allocator.Allocator` and one :class:`~.health.GpuHealth`, so every
resource tells the same story about a container and a GPU.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import grpc

from tidewise.kube.deviceplugin.allocator import AllocationError, Allocator
from tidewise.kube.deviceplugin.apis.deviceplugin.v1beta1 import api_pb2 as pb
from tidewise.kube.deviceplugin.apis.deviceplugin.v1beta1 import api_pb2_grpc
from tidewise.kube.deviceplugin.health import GpuHealth

log = logging.getLogger(__name__)

VERSION = "v1beta1"
HEALTHY, UNHEALTHY = "Healthy", "Unhealthy"  # upstream constants.go

PreStart = Callable[[tuple[int, ...]], Awaitable[str]]
"""Before a container starts on these GPUs: "" if it may, else why not."""


def socket_name(resource: str) -> str:
    """The plugin's socket file in the kubelet's device plugin folder."""
    return "tidewise-" + resource.replace("/", "-") + ".sock"


class ResourcePlugin(api_pb2_grpc.DevicePluginServicer):
    """The DevicePlugin service for one resource."""

    def __init__(
        self,
        resource: str,
        device_gpus: dict[str, int],
        allocator: Allocator,
        health: GpuHealth,
        pre_start: PreStart | None = None,
    ) -> None:
        self.resource, self.device_gpus = resource, device_gpus
        self.allocator, self.health, self.pre_start = allocator, health, pre_start

    def options(self) -> pb.DevicePluginOptions:
        return pb.DevicePluginOptions(
            pre_start_required=self.pre_start is not None,
            get_preferred_allocation_available=True,
        )

    def device_list(self) -> pb.ListAndWatchResponse:
        return pb.ListAndWatchResponse(
            devices=[
                pb.Device(ID=i, health=HEALTHY if self.health.healthy(gpu) else UNHEALTHY)
                for i, gpu in self.device_gpus.items()
            ]
        )

    async def GetDevicePluginOptions(
        self, request: pb.Empty, context: grpc.aio.ServicerContext
    ) -> pb.DevicePluginOptions:
        return self.options()

    async def ListAndWatch(
        self, request: pb.Empty, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ListAndWatchResponse]:
        seen = self.health.version
        yield self.device_list()
        while True:
            seen = await self.health.changed(seen)
            yield self.device_list()

    async def GetPreferredAllocation(
        self, request: pb.PreferredAllocationRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreferredAllocationResponse:
        answers = []
        for asked in request.container_requests:
            chosen = await self.allocator.preferred(
                self.resource,
                list(asked.available_deviceIDs),
                list(asked.must_include_deviceIDs),
                asked.allocation_size,
            )
            answers.append(pb.ContainerPreferredAllocationResponse(deviceIDs=chosen))
        return pb.PreferredAllocationResponse(container_responses=answers)

    async def Allocate(
        self, request: pb.AllocateRequest, context: grpc.aio.ServicerContext
    ) -> pb.AllocateResponse:
        if len(request.container_requests) != 1:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{self.resource}: one container per Allocate, as the kubelet sends them",
            )
        ids = list(request.container_requests[0].devices_ids)
        unknown = [i for i in ids if i not in self.device_gpus]
        if unknown:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"{self.resource}: unknown device {unknown[0]}"
            )
        try:
            env = await self.allocator.allocate(self.resource, ids)
        except AllocationError as error:
            log.error("%s Allocate refused: %s", self.resource, error)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        mounts = [
            pb.Mount(container_path=m.container_path, host_path=m.host_path, read_only=m.read_only)
            for m in env.mounts
        ]
        answer = pb.ContainerAllocateResponse(envs=env.envs, mounts=mounts)
        return pb.AllocateResponse(container_responses=[answer])

    async def PreStartContainer(
        self, request: pb.PreStartContainerRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreStartContainerResponse:
        if self.pre_start is not None:
            why = await self.pre_start(self.allocator.gpus_given(list(request.devices_ids)))
            if why:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.resource}: {why}")
        return pb.PreStartContainerResponse()


async def serve(plugin: ResourcePlugin, socket: Path) -> grpc.aio.Server:
    """Serve ``plugin`` on ``socket`` (a stale file there is replaced)."""
    socket.unlink(missing_ok=True)
    server = grpc.aio.server()
    api_pb2_grpc.add_DevicePluginServicer_to_server(plugin, server)
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    return server


async def register(kubelet_socket: Path, plugin: ResourcePlugin, endpoint: str) -> None:
    """Announce ``plugin`` (serving on ``endpoint``, a file name in the kubelet's folder)."""
    async with grpc.aio.insecure_channel(f"unix://{kubelet_socket}") as channel:
        request = pb.RegisterRequest(
            version=VERSION,
            endpoint=endpoint,
            resource_name=plugin.resource,
            options=plugin.options(),
        )
        await api_pb2_grpc.RegistrationStub(channel).Register(request, timeout=10)


async def serve_all(plugins: Sequence[ResourcePlugin], folder: Path) -> list[grpc.aio.Server]:
    """Serve every plugin on its socket in ``folder``; stops them all if one fails."""
    servers: list[grpc.aio.Server] = []
    try:
        for plugin in plugins:
            servers.append(await serve(plugin, folder / socket_name(plugin.resource)))
    except BaseException:
        await asyncio.gather(*(s.stop(None) for s in servers))
        raise
    return servers
