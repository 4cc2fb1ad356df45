"""The real kube-scheduler places GPU-share pods through the extender onto three kwok GPU
nodes; on each node the device plugin, behind a fake kubelet that speaks the real protos,
reads the pods from the real API server and gives every container exactly its share."""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Pod

from tests.kube.deviceplugin.fakes import FakeNvml
from tests.kube.deviceplugin.harness import short_folder
from tests.kube.deviceplugin.kubelet import FakeKubelet
from tests.kube.gpushare import GIB, GPUS_PER_NODE, HALF, ONE, QUARTER, bound, gpu_nodes, gpu_pod
from tests.kube.kwok import wait_for
from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin import DevicePlugin, PluginSettings
from tidewise.kube.deviceplugin.podresources import kubelet_view

pytestmark = pytest.mark.e2e
LIB = "/usr/local/vgpu/libvgpu.so"


class Loop:
    """An event loop in a thread, for the plugins and fake kubelets of every node."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def node_gpus(node: str, model: str) -> list[Gpu]:
    return [Gpu(i, f"GPU-{node}-{i}", model, GIB[model] * 1024) for i in range(GPUS_PER_NODE)]


async def start_node(folder: Path, node: str, model: str, kubeconfig: Path):
    kubelet = FakeKubelet(folder / "dp", folder / "pr.sock")
    await kubelet.start()
    (folder / "libvgpu.so").write_bytes(b"")
    settings = PluginSettings(
        mode="hami-core", folder=folder / "dp", hami_library=folder / "libvgpu.so"
    )
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="e2e-device-plugin")

    async def pods():
        listing = client.list(Pod, namespace="*", fields={"spec.nodeName": node})
        return [p.to_dict() async for p in listing]

    plugin = DevicePlugin(
        settings, FakeNvml(node_gpus(node, model)), pods, lambda: kubelet_view(folder / "pr.sock")
    )
    task = asyncio.get_running_loop().create_task(plugin.run())
    while len(kubelet.registrations) < len(settings.resources) or not all(
        e.devices for e in kubelet.endpoints.values()
    ):
        await asyncio.sleep(0.05)
    return kubelet, task


async def stop_node(kubelet: FakeKubelet, task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await kubelet.stop()


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    try:
        yield running
    finally:
        running.close()


def expected(pod, node: str, folder: Path) -> tuple[dict, dict]:
    """What the container must get, from the pod alone: its recorded GPUs, its own asks."""
    asks = pod.spec.containers[0].resources.requests
    uuids = ",".join(f"GPU-{node}-{g}" for g in recorded_gpus(pod.to_dict()))
    if "aliyun.com/gpu-count" in asks:
        return {"NVIDIA_VISIBLE_DEVICES": uuids}, {}
    memory = int(asks.get("nvidia.com/gpumem", 0)) + 1024 * int(asks.get("aliyun.com/gpu-mem", 0))
    envs = {
        "NVIDIA_VISIBLE_DEVICES": uuids,
        "CUDA_DEVICE_MEMORY_LIMIT_0": f"{memory}m",
        "CUDA_DEVICE_SM_LIMIT": asks["nvidia.com/gpucores"],
        "LD_PRELOAD": LIB,
    }
    mounts = {LIB: (str(folder / "libvgpu.so"), True), "/tmp/vgpulock": ("/tmp/vgpulock", False)}
    return envs, mounts


def test_twelve_shares_on_three_nodes_get_exactly_their_environment(kube, cluster, extender, loop):
    with gpu_nodes(kube) as (namespace, suffix, nodes), short_folder() as root:
        extender.start()
        folders = {name: root / f"n{i}" for i, name in enumerate(nodes)}
        running = {
            name: loop.run(start_node(folders[name], name, model, cluster.kubeconfig))
            for name, model in nodes.items()
        }
        try:
            mix = [QUARTER] * 6 + [HALF] * 4 + [ONE] * 2  # 5.5 GPUs' worth on 12
            for i, gpu in enumerate(mix):
                kube.create(gpu_pod(f"p{i:02d}", gpu, {"e2e": suffix}), namespace=namespace)
            wait_for("12 pods bound", lambda: len(bound(kube, namespace)) == 12, deadline=180)
            pods = sorted(bound(kube, namespace), key=lambda p: p.metadata.name)
            assert len({p.spec.nodeName for p in pods}) >= 2, "the pods spread over nodes"
            for pod in pods:
                kubelet, _ = running[pod.spec.nodeName]
                started = loop.run(kubelet.admit(pod.to_dict()))["main"]
                envs, mounts = expected(pod, pod.spec.nodeName, folders[pod.spec.nodeName])
                assert started.envs == envs, pod.metadata.name
                assert started.mounts == mounts, pod.metadata.name
                assert started.conflicts == [], pod.metadata.name
        finally:
            for kubelet, task in running.values():
                loop.run(stop_node(kubelet, task))
