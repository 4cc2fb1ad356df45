"""The plugin behind a fake kubelet that speaks the real protos, with the extender's books in
front: what a container is given, who is refused and why, restarts, health."""

import asyncio
import os
import signal

import pytest

from tests.kube.deviceplugin.fakes import Extender, a10s, daemon_pid, pod
from tests.kube.deviceplugin.harness import node, until
from tests.kube.deviceplugin.kubelet import Rejected
from tidewise.kube.api.annotations import GPU_INDEX
from tidewise.kube.deviceplugin.devices import RESOURCES, gpu_of
from tidewise.kube.deviceplugin.gpus import XidEvent

QUARTER = {"nvidia.com/gpucores": "25", "nvidia.com/gpumem": "4096", "cpu": "1"}
HALF = {"nvidia.com/gpucores": "50", "aliyun.com/gpu-mem": "8"}
BIG = {"nvidia.com/gpucores": "60", "aliyun.com/gpu-mem": "8"}  # two never share a GPU
HAMI = {"nvidia.com/gpu": "1", "nvidia.com/gpucores": "30", "nvidia.com/gpumem": "10240"}
ONE = {"aliyun.com/gpu-count": "1"}
TWO = {"aliyun.com/gpu-count": "2"}
LIB = "/usr/local/vgpu/libvgpu.so"


def run(scenario):
    asyncio.run(scenario())


def recorded(body: dict) -> list[int]:
    return [int(i) for i in body["metadata"]["annotations"][GPU_INDEX].split(",")]


def uuids(gpus: list[int]) -> str:
    return ",".join(f"GPU-n{g:02d}" for g in gpus)


def expected_hami_core(gpus, memory_mib, cores, library):
    envs = {"NVIDIA_VISIBLE_DEVICES": uuids(gpus)}
    if memory_mib is None:  # whole GPUs
        return envs, {}
    envs |= {
        "CUDA_DEVICE_MEMORY_LIMIT_0": f"{memory_mib}m",
        "CUDA_DEVICE_SM_LIMIT": str(cores),
        "LD_PRELOAD": LIB,
    }
    return envs, {LIB: (str(library), True), "/tmp/vgpulock": ("/tmp/vgpulock", False)}


def expected_mps(gpus, memory_mib, cores, root):
    envs = {"NVIDIA_VISIBLE_DEVICES": uuids(gpus)}
    if memory_mib is None:
        return envs, {}
    envs |= {
        "CUDA_MPS_PIPE_DIRECTORY": "/tmp/nvidia-mps",
        "CUDA_MPS_LOG_DIRECTORY": "/var/log/nvidia-mps",
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": f"0={memory_mib}M",
        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(cores),
    }
    uuid = uuids(gpus)
    mounts = {
        "/tmp/nvidia-mps": (f"{root}/{uuid}/pipe", False),
        "/var/log/nvidia-mps": (f"{root}/{uuid}/log", True),
        "/dev/shm": (f"{root}/shm", False),
    }
    return envs, mounts


@pytest.mark.parametrize("mode", ["hami-core", "mps"])
def test_each_share_becomes_exactly_its_environment_on_the_gpu_the_extender_chose(mode):
    async def scenario():
        gpus = a10s(6)
        extender = Extender(gpus)
        # asks: the memory (MiB) and cores each container must be limited to; None: whole GPUs
        mix = [
            ("quarter", QUARTER, 4096, 25),
            ("half", HALF, 8192, 50),
            ("hami", HAMI, 10240, 30),
            ("one", ONE, None, None),
            ("two", TWO, None, None),
            ("quarter-2", QUARTER, 4096, 25),
        ]
        async with node(gpus, mode) as running:
            for name, asks, memory, cores in mix:
                body = extender.bind(pod(name, asks))
                started = (await running.admit(body))["c0"]
                on = recorded(body)
                if mode == "mps":
                    envs, mounts = expected_mps(on, memory, cores, running.mps_root)
                else:
                    envs, mounts = expected_hami_core(on, memory, cores, running.library)
                assert started.envs == envs, name
                assert started.mounts == mounts, name
                assert started.conflicts == [], name
                # GetPreferredAllocation steered the kubelet to devices of the same GPUs
                for resource, ids in started.devices.items():
                    assert {gpu_of(i) for i in ids} == set(on), (name, resource)
            calls = set(running.kubelet.calls)
            assert "GetPreferredAllocation nvidia.com/gpumem" in calls
            assert ("PreStartContainer nvidia.com/gpucores" in calls) == (mode == "mps")
            assert sorted(running.kubelet.registrations) == sorted(RESOURCES)

    run(scenario)


def test_two_pods_waiting_at_once_each_get_their_own_gpu():
    """gpushare's rule (first pending pod asking the same amount) would give the second
    pod's GPU to the first here; the kubelet's PodResources listing tells them apart."""

    async def scenario():
        gpus = a10s()
        extender = Extender(gpus)
        first = extender.bind(pod("first", BIG))
        second = extender.bind(pod("second", BIG))
        assert recorded(first) != recorded(second)
        async with node(gpus, "hami-core") as running:
            running.pods += [second, first]  # both bound, listed in any order
            for body in (first, second):
                started = (await running.admit(body))["c0"]
                assert started.envs["NVIDIA_VISIBLE_DEVICES"] == uuids(recorded(body))

    run(scenario)


def test_without_the_pod_resources_api_two_waiting_pods_are_refused_not_guessed():
    async def scenario():
        gpus = a10s()
        extender = Extender(gpus)
        first = extender.bind(pod("first", BIG))
        second = extender.bind(pod("second", BIG))
        async with node(gpus, "hami-core", use_pod_resources=False) as running:
            running.pods += [first, second]
            with pytest.raises(Rejected) as refused:
                await running.admit(first)
            assert "ns/first, ns/second" in str(refused.value)
            assert "PodResources" in str(refused.value)
            running.pods.remove(second)  # alone, the pending pod is certainly the one
            started = (await running.admit(first))["c0"]
            assert started.envs["NVIDIA_VISIBLE_DEVICES"] == uuids(recorded(first))

    run(scenario)


@pytest.mark.parametrize(
    ("annotation", "says"),
    [
        ("x,1", "is not a comma-separated list of GPU indices"),
        ("7", "names GPU 7, but this node has GPUs 0-3"),
        ("1,1", "repeats a GPU"),
        ("0,1", "a GPU share lives on one GPU"),
        (None, "has no ALIYUN_COM_GPU_MEM_IDX annotation"),
    ],
)
def test_a_malformed_annotation_refuses_the_pod_by_name_and_gives_no_gpu(annotation, says):
    async def scenario():
        gpus = a10s()
        body = Extender(gpus).bind(pod("broken", QUARTER))
        if annotation is None:
            del body["metadata"]["annotations"][GPU_INDEX]
        else:
            body["metadata"]["annotations"][GPU_INDEX] = annotation
        async with node(gpus, "hami-core") as running:
            with pytest.raises(Rejected) as refused:
                await running.admit(body)
            assert f"pod ns/broken{'' if annotation is None else ':'}" in str(refused.value)
            assert says in str(refused.value)
            assert ("ns", "broken") not in running.kubelet.allocated
            assert not running.kubelet.started

    run(scenario)


def test_a_plugin_restart_registers_again_and_loses_nothing():
    async def scenario():
        gpus = a10s()
        extender = Extender(gpus)
        first = extender.bind(pod("first", QUARTER))
        async with node(gpus, "hami-core") as running:
            before = (await running.admit(first))["c0"]
            held = {r: list(i) for r, i in running.kubelet.allocated[("ns", "first")]["c0"].items()}
            await running.stop_plugin()
            sockets = sorted(p.name for p in (running.folder / "dp").iterdir())
            assert sockets == ["kubelet.sock"], "the plugin removes its sockets when it stops"
            await running.start_plugin()
            assert len(running.kubelet.registrations) == 2 * len(RESOURCES)
            second = extender.bind(pod("second", QUARTER))
            after = (await running.admit(second))["c0"]
            assert after.envs["NVIDIA_VISIBLE_DEVICES"] == uuids(recorded(second))
            assert running.kubelet.started[("ns", "first", "c0")] == before
            assert running.kubelet.allocated[("ns", "first")]["c0"] == held
            free = set(running.kubelet.healthy_free("nvidia.com/gpumem"))
            assert not free & set(held["nvidia.com/gpumem"])

    run(scenario)


def test_a_kubelet_restart_is_noticed_and_the_plugin_registers_again():
    async def scenario():
        gpus = a10s()
        extender = Extender(gpus)
        async with node(gpus, "mps") as running:
            await running.admit(extender.bind(pod("first", HALF)))
            await running.kubelet.restart()  # new kubelet.sock, the plugin's sockets deleted
            await running.registered(2 * len(RESOURCES))
            second = extender.bind(pod("second", HALF))
            started = (await running.admit(second))["c0"]
            assert started.envs["NVIDIA_VISIBLE_DEVICES"] == uuids(recorded(second))
            assert ("ns", "first") in running.kubelet.allocated

    run(scenario)


def test_a_dead_mps_daemon_marks_only_its_gpu_unhealthy_until_it_is_restarted():
    async def scenario():
        gpus = a10s()
        async with node(gpus, "mps", pre_start_deadline_s=0.5) as running:
            plugin, kubelet = running.plugin, running.kubelet
            pipes = [plugin.isolation.mps.pipe(gpu) for gpu in gpus]
            await until("a daemon per GPU", lambda: all(daemon_pid(p) for p in pipes))
            for gpu in gpus:
                log = (plugin.isolation.mps.log(gpu) / "control.log").read_text()
                assert f"CUDA_VISIBLE_DEVICES={gpu.uuid}" in log
            dead = daemon_pid(pipes[1])
            (pipes[1] / "refuse-start").touch()
            os.kill(dead, signal.SIGKILL)
            gpumem = kubelet.endpoints["nvidia.com/gpumem"]

            def unhealthy() -> set[int]:
                return {gpu_of(i) for i, h in gpumem.devices.items() if h == "Unhealthy"}

            await until("GPU 1 unhealthy", lambda: unhealthy() == {1})
            assert all(
                {gpu_of(i) for i, h in e.devices.items() if h == "Unhealthy"} == {1}
                for e in kubelet.endpoints.values()
            )
            # a share on GPU 1 may not start while its daemon is down: it would run unlimited
            body = Extender(gpus).bind(pod("waits", HALF))
            body["metadata"]["annotations"][GPU_INDEX] = "1"
            with pytest.raises(Rejected) as refused:
                await running.admit(body)
            assert "MPS control daemon of GPU(s) [1] does not answer" in str(refused.value)
            (pipes[1] / "refuse-start").unlink()
            await until("GPU 1 healthy again", lambda: not unhealthy())
            assert daemon_pid(pipes[1]) not in (None, dead)

    run(scenario)


def test_a_critical_xid_marks_its_gpu_unhealthy_and_an_application_xid_does_not():
    async def scenario():
        gpus = a10s()
        async with node(gpus, "hami-core") as running:
            running.nvml.xids.put(XidEvent("GPU-n00", 13))  # a program's own fault
            running.nvml.xids.put(XidEvent("GPU-n02", 79))  # fallen off the bus
            cores = running.kubelet.endpoints["nvidia.com/gpucores"]

            def unhealthy() -> set[int]:
                return {gpu_of(i) for i, h in cores.devices.items() if h == "Unhealthy"}

            await until("GPU 2 unhealthy", lambda: unhealthy() == {2})
            assert running.plugin.health.problems(2) == {"critical Xid 79"}
            body = Extender(gpus).bind(pod("late", QUARTER))
            body["metadata"]["annotations"][GPU_INDEX] = "2"
            with pytest.raises(Rejected) as refused:
                await running.admit(body)
            assert "pod ns/late: GPU 2 is unhealthy (critical Xid 79)" in str(refused.value)

    run(scenario)
