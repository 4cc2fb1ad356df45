"""What a container is given for its share: environment variables and mounts, per mode.

* every mode: ``NVIDIA_VISIBLE_DEVICES``, the UUIDs of the container's GPUs (what the NVIDIA
  container runtime reads to expose them);
* ``mps``: the share runs as a client of its GPU's MPS control daemon, which enforces
  ``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`` (``0=<MiB>M``: device 0, the only one the container
  sees) and ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`` (its compute share in percent); the
  daemon's pipe and log folders and its shared memory are mounted at MPS's default paths,
  so a client finds them whether or not it reads the variables. Names and formats: NVIDIA's
  MPS documentation (docs.nvidia.com/deploy/mps, "Environment Variables");
* ``hami-core``: HAMi-core (``libvgpu.so``, LD_PRELOAD) hooks the CUDA driver API and
  enforces ``CUDA_DEVICE_MEMORY_LIMIT_0`` (``<MiB>m``) and ``CUDA_DEVICE_SM_LIMIT``
  (percent); names and formats from HAMi's device plugin
  (``pkg/device-plugin/nvidiadevice/nvinternal/plugin/server.go``, v2.10.0) and HAMi-core's
  README. ``/tmp/vgpulock`` is the node-wide lock folder HAMi-core expects;
* ``none``: the GPU alone, no limits (gpushare's behaviour).

Whole GPUs are never limited, and get no MPS or HAMi-core plumbing. A limit of 0 is left
out (no limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin.share import ContainerShare, ShareError

MPS, HAMI_CORE, NONE = "mps", "hami-core", "none"
MODES = (MPS, HAMI_CORE, NONE)

MPS_PIPE = "/tmp/nvidia-mps"  # MPS's default CUDA_MPS_PIPE_DIRECTORY
MPS_LOG = "/var/log/nvidia-mps"  # and CUDA_MPS_LOG_DIRECTORY
SHM = "/dev/shm"
HAMI_LIBRARY = "/usr/local/vgpu/libvgpu.so"  # where HAMi mounts it (its HOOK_PATH)
HAMI_LOCK = "/tmp/vgpulock"


@dataclass(frozen=True, slots=True)
class Mount:
    container_path: str
    host_path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class ContainerEnvironment:
    envs: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True, slots=True)
class MpsPaths:
    """Where the MPS control daemons keep their folders on the node, one set per GPU; the
    shared memory folder is common (the daemons' /dev/shm)."""

    root: Path

    def pipe(self, gpu: Gpu) -> Path:
        return self.root / gpu.uuid / "pipe"

    def log(self, gpu: Gpu) -> Path:
        return self.root / gpu.uuid / "log"

    @property
    def shm(self) -> Path:
        return self.root / "shm"


@dataclass(frozen=True, slots=True)
class Isolation:
    """The node's isolation: the mode and where its pieces are on the host."""

    mode: str
    mps: MpsPaths = MpsPaths(Path("/run/tidewise/mps"))
    hami_library: Path = Path(HAMI_LIBRARY)


def environment(
    share: ContainerShare, gpus: Sequence[Gpu], isolation: Isolation
) -> ContainerEnvironment:
    """The container's environment and mounts; :class:`ShareError` if the share does not
    fit its GPU (the node is not what the extender took it for)."""
    chosen = [gpus[i] for i in share.gpus]
    envs = {"NVIDIA_VISIBLE_DEVICES": ",".join(gpu.uuid for gpu in chosen)}
    if share.whole or isolation.mode == NONE:
        return ContainerEnvironment(envs)
    (gpu,) = chosen
    if share.memory_mib > gpu.memory_mib:
        raise ShareError(
            f"pod {share.pod}, container {share.container}: {share.memory_mib} MiB asked, "
            f"GPU {gpu.index} has {gpu.memory_mib} MiB"
        )
    if isolation.mode == MPS:
        return _mps(share, gpu, isolation.mps, envs)
    return _hami_core(share, isolation.hami_library, envs)


def _mps(
    share: ContainerShare, gpu: Gpu, paths: MpsPaths, envs: dict[str, str]
) -> ContainerEnvironment:
    envs |= {"CUDA_MPS_PIPE_DIRECTORY": MPS_PIPE, "CUDA_MPS_LOG_DIRECTORY": MPS_LOG}
    if share.memory_mib:
        envs["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = f"0={share.memory_mib}M"
    if share.cores_percent:
        envs["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(share.cores_percent)
    mounts = (
        Mount(MPS_PIPE, str(paths.pipe(gpu))),
        Mount(MPS_LOG, str(paths.log(gpu)), read_only=True),
        Mount(SHM, str(paths.shm)),
    )
    return ContainerEnvironment(envs, mounts)


def _hami_core(share: ContainerShare, library: Path, envs: dict[str, str]) -> ContainerEnvironment:
    if share.memory_mib:
        envs["CUDA_DEVICE_MEMORY_LIMIT_0"] = f"{share.memory_mib}m"
    if share.cores_percent:
        envs["CUDA_DEVICE_SM_LIMIT"] = str(share.cores_percent)
    if not (share.memory_mib or share.cores_percent):
        return ContainerEnvironment(envs)  # nothing to enforce: no hook
    envs["LD_PRELOAD"] = HAMI_LIBRARY
    mounts = (Mount(HAMI_LIBRARY, str(library), read_only=True), Mount(HAMI_LOCK, HAMI_LOCK))
    return ContainerEnvironment(envs, mounts)
