"""The kubelet's PodResources API (v1 ``List``): which containers it has given devices.

See :mod:`tidewise.kube.deviceplugin.matching` for why Allocate asks it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from tidewise.kube.deviceplugin.apis.podresources.v1 import api_pb2, api_pb2_grpc
from tidewise.kube.deviceplugin.matching import KubeletView

log = logging.getLogger(__name__)

SOCKET = Path("/var/lib/kubelet/pod-resources/kubelet.sock")


async def kubelet_view(socket: Path, timeout_s: float = 5.0) -> KubeletView | None:
    """The kubelet's active pods and their containers' resources with devices; ``None``
    (logged) when the API cannot be reached."""
    if not socket.exists():
        log.warning("no PodResources socket at %s: matching pods from the API alone", socket)
        return None
    try:
        async with grpc.aio.insecure_channel(f"unix://{socket}") as channel:
            stub = api_pb2_grpc.PodResourcesListerStub(channel)
            reply = await stub.List(api_pb2.ListPodResourcesRequest(), timeout=timeout_s)
    except grpc.aio.AioRpcError as error:
        log.warning("PodResources List failed (%s): matching pods from the API alone", error)
        return None
    return {
        (pod.namespace, pod.name): {
            container.name: frozenset(d.resource_name for d in container.devices if d.device_ids)
            for container in pod.containers
        }
        for pod in reply.pod_resources
    }
