"""``tidewise device-plugin``: the node side of GPU sharing, served to the kubelet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import fail
from tidewise.cli.kube import KubeconfigOption, kube_service

app = typer.Typer(add_completion=False)


@app.command()
def device_plugin(
    kubeconfig: KubeconfigOption = None,
    node_name: Annotated[
        str, typer.Option(envvar="NODE_NAME", help="This node's name (NODE_NAME in the pod).")
    ] = "",
    mode: Annotated[
        str,
        typer.Option(
            help="Isolation: auto (hami-core if its library is here, else mps), mps, "
            "hami-core or none."
        ),
    ] = "auto",
    resources: Annotated[
        str | None, typer.Option(help="Comma-separated resources to serve; default all five.")
    ] = None,
    gpu_split: Annotated[int, typer.Option(help="nvidia.com/gpu devices per GPU.")] = 10,
    device_plugin_dir: Annotated[
        Path, typer.Option(help="The kubelet's device plugin folder (kubelet.sock in it).")
    ] = Path("/var/lib/kubelet/device-plugins"),
    pod_resources_socket: Annotated[
        Path, typer.Option(help="The kubelet's PodResources API socket.")
    ] = Path("/var/lib/kubelet/pod-resources/kubelet.sock"),
    mps_root: Annotated[
        Path, typer.Option(help="Host folder for the MPS daemons' pipes, logs, shared memory.")
    ] = Path("/run/tidewise/mps"),
    hami_core_library: Annotated[
        Path, typer.Option(help="HAMi-core's libvgpu.so on the host.")
    ] = Path("/usr/local/vgpu/libvgpu.so"),
) -> None:
    """Serve the GPU-share resources to the kubelet: each container gets the GPU the extender
    chose, with its memory and compute limits (docs/device-plugin.md)."""
    from tidewise.kube.deviceplugin import PluginError, PluginSettings, main
    from tidewise.kube.deviceplugin.devices import RESOURCES
    from tidewise.kube.deviceplugin.environment import HAMI_CORE, MPS, NONE
    from tidewise.kube.deviceplugin.gpus import NvmlUnavailable
    from tidewise.kube.deviceplugin.plugin import AUTO

    # what the flags alone decide, before NVML and the API server are asked
    modes = (AUTO, MPS, HAMI_CORE, NONE)
    if mode not in modes:
        raise fail(f"--mode: {mode!r}; one of {', '.join(modes)}")
    unknown = sorted(set(resources.split(",")) - set(RESOURCES)) if resources else []
    if unknown:
        raise fail(f"--resources: unknown {', '.join(unknown)}; known: {', '.join(RESOURCES)}")
    if gpu_split < 1:
        raise fail(f"--gpu-split: devices per GPU, 1 or more (got {gpu_split})")

    settings = PluginSettings(
        mode=mode,
        folder=device_plugin_dir,
        mps_root=mps_root,
        hami_library=hami_core_library,
        resources=tuple(resources.split(",")) if resources else RESOURCES,
        gpu_split=gpu_split,
    )
    try:
        main(settings, lambda: kube_service(kubeconfig), node_name, pod_resources_socket)
    except (PluginError, NvmlUnavailable) as error:
        raise fail(str(error)) from None
