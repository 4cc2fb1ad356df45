"""A fake kubelet that speaks the real protos: it serves Registration on kubelet.sock and the
PodResources API, and admits pods the way the kubelet's device manager does.

What it copies from the kubelet (kubernetes ``pkg/kubelet/cm/devicemanager``):

* on Register, it dials the plugin's endpoint, asks its options and keeps a ListAndWatch
  stream open; a later registration of the same resource replaces the earlier one;
* pods are admitted one at a time; a pod is active (listed by PodResources) from the start
  of its admission; containers are served in order, init containers first; for each
  resource a container asks for, it picks among the healthy devices nobody holds, asking
  GetPreferredAllocation when the plugin offers it and there is a choice, then calls
  Allocate, and records the devices only once Allocate returned;
* a failed Allocate rejects the pod (it leaves the active set, its devices are freed);
* the environment of a container merges the answers of its resources, the first value of a
  variable winning; PreStartContainer runs before the container starts, when asked for;
* a restart deletes every socket in its folder but keeps its allocations (the checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from tidewise.kube.deviceplugin.apis.deviceplugin.v1beta1 import api_pb2 as dp
from tidewise.kube.deviceplugin.apis.deviceplugin.v1beta1 import api_pb2_grpc as dp_grpc
from tidewise.kube.deviceplugin.apis.podresources.v1 import api_pb2 as pr
from tidewise.kube.deviceplugin.apis.podresources.v1 import api_pb2_grpc as pr_grpc
from tidewise.kube.deviceplugin.contract import container_requests


@dataclass
class Endpoint:
    resource: str
    socket: Path
    options: dp.DevicePluginOptions
    channel: grpc.aio.Channel
    stub: dp_grpc.DevicePluginStub
    devices: dict[str, str] = field(default_factory=dict)  # id -> health
    lists: int = 0  # ListAndWatch messages received
    watch: asyncio.Task | None = None


@dataclass
class Started:
    """What a container was started with."""

    envs: dict[str, str]
    mounts: dict[str, tuple[str, bool]]  # container path -> (host path, read only)
    devices: dict[str, list[str]]  # resource -> device IDs
    conflicts: list[str]  # variables two resources' answers set differently


class Rejected(Exception):
    """Admission failed; the message is the plugin's."""


class FakeKubelet(dp_grpc.RegistrationServicer, pr_grpc.PodResourcesListerServicer):
    def __init__(self, folder: Path, pod_resources: Path) -> None:
        self.folder, self.pod_resources_socket = folder, pod_resources
        self.endpoints: dict[str, Endpoint] = {}
        self.registrations: list[str] = []
        self.active: dict[tuple[str, str], Mapping[str, Any]] = {}  # pods admitted or admitting
        # the checkpoint: (namespace, name) -> container -> resource -> device IDs
        self.allocated: dict[tuple[str, str], dict[str, dict[str, list[str]]]] = {}
        self.started: dict[tuple[str, str, str], Started] = {}
        self.calls: list[str] = []
        self._servers: list[grpc.aio.Server] = []
        self._lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pod_resources_socket.parent.mkdir(parents=True, exist_ok=True)
        registration = grpc.aio.server()
        dp_grpc.add_RegistrationServicer_to_server(self, registration)
        registration.add_insecure_port(f"unix://{self.folder / 'kubelet.sock'}")
        self.pod_resources_socket.unlink(missing_ok=True)
        lister = grpc.aio.server()
        pr_grpc.add_PodResourcesListerServicer_to_server(self, lister)
        lister.add_insecure_port(f"unix://{self.pod_resources_socket}")
        for server in (registration, lister):
            await server.start()
        self._servers = [registration, lister]

    async def stop(self) -> None:
        for endpoint in self.endpoints.values():
            await self._close(endpoint)
        self.endpoints = {}
        await asyncio.gather(*(s.stop(None) for s in self._servers))
        self._servers = []

    async def restart(self) -> None:
        """Stop, delete every socket in the folder (as the kubelet's device manager does on
        start), and start again with the allocations kept."""
        await self.stop()
        for path in self.folder.iterdir():
            if path.is_socket():
                path.unlink()
        await self.start()

    async def _close(self, endpoint: Endpoint) -> None:
        if endpoint.watch is not None:
            endpoint.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await endpoint.watch
        await endpoint.channel.close()

    # -- Registration ------------------------------------------------------------------------

    async def Register(self, request: dp.RegisterRequest, context: Any) -> dp.Empty:
        assert request.version == "v1beta1", request.version
        socket = self.folder / request.endpoint
        channel = grpc.aio.insecure_channel(f"unix://{socket}")
        stub = dp_grpc.DevicePluginStub(channel)
        options = await stub.GetDevicePluginOptions(dp.Empty(), timeout=30)
        assert options == request.options, "the plugin's options changed since it registered"
        old = self.endpoints.pop(request.resource_name, None)
        if old is not None:
            await self._close(old)
        endpoint = Endpoint(request.resource_name, socket, options, channel, stub)
        endpoint.watch = asyncio.get_running_loop().create_task(self._watch(endpoint))
        self.endpoints[request.resource_name] = endpoint
        self.registrations.append(request.resource_name)
        return dp.Empty()

    async def _watch(self, endpoint: Endpoint) -> None:
        async for reply in endpoint.stub.ListAndWatch(dp.Empty()):
            endpoint.devices = {d.ID: d.health for d in reply.devices}
            endpoint.lists += 1

    # -- PodResources ------------------------------------------------------------------------

    async def List(self, request: pr.ListPodResourcesRequest, context: Any) -> Any:
        pods = []
        for (namespace, name), pod in self.active.items():
            held = self.allocated.get((namespace, name), {})
            containers = [
                pr.ContainerResources(
                    name=c["name"],
                    devices=[
                        pr.ContainerDevices(resource_name=r, device_ids=ids)
                        for r, ids in held.get(c["name"], {}).items()
                    ],
                )
                for c in pod["spec"]["containers"]  # regular init containers are never listed
            ]
            pods.append(pr.PodResources(name=name, namespace=namespace, containers=containers))
        return pr.ListPodResourcesResponse(pod_resources=pods)

    # -- admission ---------------------------------------------------------------------------

    def healthy_free(self, resource: str) -> list[str]:
        held = {
            i
            for containers in self.allocated.values()
            for resources in containers.values()
            for i in resources.get(resource, [])
        }
        devices = self.endpoints[resource].devices
        return [i for i, health in devices.items() if health == "Healthy" and i not in held]

    async def admit(self, pod: Mapping[str, Any]) -> dict[str, Started]:
        """Admit and start the pod's containers; :class:`Rejected` if a plugin refuses."""
        async with self._lock:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.active[key] = pod
            try:
                answers = await self._allocate(key, pod)
            except Rejected:
                del self.active[key]
                self.allocated.pop(key, None)
                raise
        started = {}
        for name, (responses, devices) in answers.items():
            for resource, ids in devices.items():
                endpoint = self.endpoints[resource]
                if endpoint.options.pre_start_required:
                    self.calls.append(f"PreStartContainer {resource}")
                    request = dp.PreStartContainerRequest(devices_ids=ids)
                    try:
                        await endpoint.stub.PreStartContainer(request, timeout=30)
                    except grpc.aio.AioRpcError as error:
                        raise Rejected(error.details()) from None
            started[name] = self._merge(responses, devices)
            self.started[(*key, name)] = started[name]
        return started

    async def _allocate(self, key: tuple[str, str], pod: Mapping[str, Any]) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        spec = pod["spec"]
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            responses, devices = [], {}
            for resource, count in sorted(container_requests(container).items()):
                if resource not in self.endpoints or not count:
                    continue
                ids = await self._choose(resource, count)
                self.calls.append(f"Allocate {resource}")
                request = dp.AllocateRequest(
                    container_requests=[dp.ContainerAllocateRequest(devices_ids=ids)]
                )
                try:
                    reply = await self.endpoints[resource].stub.Allocate(request, timeout=30)
                except grpc.aio.AioRpcError as error:
                    raise Rejected(error.details()) from None
                responses.append(reply.container_responses[0])
                devices[resource] = ids
                self.allocated.setdefault(key, {}).setdefault(container["name"], {})[resource] = ids
            answers[container["name"]] = (responses, devices)
        return answers

    async def _choose(self, resource: str, count: int) -> list[str]:
        free = self.healthy_free(resource)
        if len(free) < count:
            raise Rejected(f"UnexpectedAdmissionError: {count} {resource} asked, {len(free)} free")
        endpoint = self.endpoints[resource]
        if not endpoint.options.get_preferred_allocation_available or len(free) == count:
            return free[:count]
        self.calls.append(f"GetPreferredAllocation {resource}")
        request = dp.PreferredAllocationRequest(
            container_requests=[
                dp.ContainerPreferredAllocationRequest(
                    available_deviceIDs=free, allocation_size=count
                )
            ]
        )
        reply = await endpoint.stub.GetPreferredAllocation(request, timeout=30)
        chosen = list(reply.container_responses[0].deviceIDs)
        assert len(chosen) == count and set(chosen) <= set(free), chosen
        return chosen

    @staticmethod
    def _merge(responses: list[Any], devices: dict[str, list[str]]) -> Started:
        envs: dict[str, str] = {}
        mounts: dict[str, tuple[str, bool]] = {}
        conflicts = []
        for response in responses:
            for name, value in response.envs.items():
                if envs.setdefault(name, value) != value:
                    conflicts.append(name)
            for mount in response.mounts:
                mounts.setdefault(mount.container_path, (mount.host_path, mount.read_only))
        return Started(envs, mounts, devices, conflicts)
