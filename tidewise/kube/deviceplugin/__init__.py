"""``tidewise device-plugin``: a kubelet device plugin that gives each GPU-share container
the GPU the extender chose for it, with its memory and compute limits enforced by MPS or
HAMi-core (docs/device-plugin.md).

``apis`` holds the kubelet's gRPC APIs (protos and generated stubs), ``gpus`` NVML,
``devices`` what each resource advertises, ``contract`` what is read of the extender's
decisions, ``share`` a container's share, ``environment`` what it is given per mode,
``matching`` which container an Allocate is for, ``allocator`` Allocate itself, ``health``
and ``mps`` the GPUs' health and MPS daemons, ``server`` the gRPC services, ``plugin`` the
whole, and :func:`main` the command's entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidewise.kube.deviceplugin.plugin import DevicePlugin, PluginError, PluginSettings

if TYPE_CHECKING:
    from lightkube import KubeConfig

__all__ = ["DevicePlugin", "PluginError", "PluginSettings", "main"]

LIST_TIMEOUT_S = 10.0


def main(
    settings: PluginSettings, config: Callable[[], KubeConfig], node: str, pod_resources: Path
) -> None:
    """Run the plugin on this node until interrupted; :class:`PluginError` or
    :class:`~.gpus.NvmlUnavailable` (before anything starts) if it cannot. NVML is asked
    first: on a node without GPUs that is the error worth reading."""
    from lightkube import AsyncClient
    from lightkube.resources.core_v1 import Pod

    from tidewise.kube.deviceplugin.gpus import PyNvml
    from tidewise.kube.deviceplugin.podresources import kubelet_view

    if not node:
        raise PluginError("--node-name: empty; pass the node's name (NODE_NAME in the pod)")
    nvml = PyNvml()
    try:
        client = AsyncClient(config(), field_manager="tidewise-device-plugin")
    except Exception:
        nvml.close()
        raise

    async def run() -> None:

        async def pods() -> Sequence[Mapping[str, Any]]:
            async with asyncio.timeout(LIST_TIMEOUT_S):
                listing = client.list(Pod, namespace="*", fields={"spec.nodeName": node})
                return [pod.to_dict() async for pod in listing]

        await DevicePlugin(settings, nvml, pods, lambda: kubelet_view(pod_resources)).run()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    finally:
        nvml.close()
