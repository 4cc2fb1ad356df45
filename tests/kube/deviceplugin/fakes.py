"""Fakes for the device plugin's tests: NVML, the MPS control program, and pods placed by
the real extender's books (the extender in front, as in a cluster)."""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import stat
import sys
from pathlib import Path
from typing import Any

from tidewise.kube.api.annotations import gpu_annotations
from tidewise.kube.api.gpu import Gpu
from tidewise.kube.api.resources import pod_request
from tidewise.kube.deviceplugin.gpus import XidEvent
from tidewise.kube.extender.state import GpuShareBook
from tidewise.model import Resources

A10_MIB = 24576


def a10s(count: int = 4, node: str = "n") -> list[Gpu]:
    return [Gpu(i, f"GPU-{node}{i:02d}", "NVIDIA A10", A10_MIB) for i in range(count)]


class FakeNvml:
    """The GPUs it is given; Xid events as the test pushes them."""

    def __init__(self, gpus: list[Gpu]) -> None:
        self._gpus = gpus
        self.xids: queue.Queue[XidEvent] = queue.Queue()
        self.closed = False

    def gpus(self) -> list[Gpu]:
        return list(self._gpus)

    def wait_xid(self, timeout_s: float) -> XidEvent | None:
        try:
            return self.xids.get(timeout=min(timeout_s, 0.05))
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True


# The fake nvidia-cuda-mps-control: `-d` forks a daemon that listens on <pipe>/control, writes
# its pid to <pipe>/control.pid and CUDA_VISIBLE_DEVICES to <log>/control.log, then returns;
# without arguments it passes stdin to the daemon and prints the answer, failing (as the
# real client does) when no daemon answers. A file <pipe>/refuse-start makes `-d` fail.
FAKE_CONTROL = r"""
import os, socket, sys
pipe, log = os.environ["CUDA_MPS_PIPE_DIRECTORY"], os.environ["CUDA_MPS_LOG_DIRECTORY"]
path = os.path.join(pipe, "control")
if sys.argv[1:] == ["-d"]:
    if os.path.exists(os.path.join(pipe, "refuse-start")):
        sys.exit("refusing to start")
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        sys.exit(0 if os.read(ready_r, 1) else 1)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    with open(os.path.join(pipe, "control.pid"), "w") as out:
        out.write(str(os.getpid()))
    with open(os.path.join(log, "control.log"), "a") as out:
        out.write("started CUDA_VISIBLE_DEVICES=%s\n" % os.environ.get("CUDA_VISIBLE_DEVICES"))
    os.write(ready_w, b"x")
    while True:
        client, _ = server.accept()
        command = client.recv(1024).decode().strip()
        client.sendall(b"" if command == "quit" else b"100\n")
        client.close()
        if command == "quit":
            os.unlink(path)
            os._exit(0)
command = sys.stdin.read()
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(path)
except OSError:
    print("Cannot find MPS control daemon process")
    sys.exit(1)
client.sendall(command.encode())
client.shutdown(socket.SHUT_WR)
print(client.recv(1024).decode(), end="")
"""


def fake_mps_control(folder: Path) -> Path:
    """The fake control program as an executable file in ``folder``."""
    path = folder / "nvidia-cuda-mps-control"
    path.write_text(f"#!{sys.executable} -S\n{FAKE_CONTROL}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def daemon_pid(pipe: Path) -> int | None:
    try:
        return int((pipe / "control.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def kill_daemons(root: Path) -> None:
    """SIGKILL every fake daemon under ``root`` (they outlive the plugin, as real ones do)."""
    for pid_file in root.glob("*/pipe/control.pid"):
        pid = daemon_pid(pid_file.parent)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


_uids = itertools.count()


def pod(name: str, *containers: dict[str, str], init: dict[str, str] | None = None) -> dict:
    """A pod in namespace ``ns`` whose containers ``c0, c1, ...`` ask for these resources."""

    def container(cname: str, asks: dict[str, str]) -> dict:
        return {"name": cname, "resources": {"requests": asks, "limits": asks}}

    spec: dict[str, Any] = {
        "containers": [container(f"c{i}", asks) for i, asks in enumerate(containers)]
    }
    if init is not None:
        spec["initContainers"] = [container("init", init)]
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{next(_uids)}"},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


class Extender:
    """The extender's own books and bind-time choice, for one node of ``gpus``."""

    def __init__(self, gpus: list[Gpu], node: str = "n") -> None:
        self.node, self.memory = node, gpus[0].memory_mib
        self.book = GpuShareBook()
        capacity = Resources(
            64000, 256000, gpu_count=len(gpus), gpu_memory_mib=self.memory, gpu_model="A10"
        )
        self.book.put_node(node, capacity)

    def bind(self, body: dict) -> dict:
        """Choose the pod's GPUs and write them on it, as the extender's bind does."""
        shape = pod_request(body)
        gpus = self.book.assume(body["metadata"]["uid"], shape, self.node, now=0.0)
        body["metadata"]["annotations"] = gpu_annotations(shape, gpus, self.memory, 1)
        body["spec"]["nodeName"] = self.node
        return body
