"""Build the control-plane binaries from Go modules on first use, and cache them.

Why this exists: the end-to-end suite needs a real etcd, kube-apiserver, controller manager,
scheduler and kwok, and no registry we can reach ships those binaries, but the Go module proxy
ships their source. Two small wrapper modules (``gomod/controlplane`` and ``gomod/kwok``, with
their go.sum) pin what gets built; their go.mod files are the one place where versions live.
A cold build takes many minutes on two cores, so the result is cached per version under
``~/.cache/tidewise`` (binaries, GOPATH, GOCACHE, GOMODCACHE) and never committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MODULES = Path(__file__).parent / "gomod"
CONTROLPLANE_MODULE = MODULES / "controlplane"
KWOK_MODULE = MODULES / "kwok"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# kwok's own default stage set (what kwokctl assembles): nodes become Ready and keep a lease,
# pods become Ready, Job pods complete, and deleted pods go away
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
PACKAGES_PER_PROGRESS_LINE = 250

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """Go is missing, or a build step failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Pins:
    """The versions the wrapper modules pin (read from their go.mod files, never repeated)."""

    kubernetes: str
    etcd: str
    kwok: str


@dataclass(frozen=True)
class Binaries:
    """Paths of one cached build."""

    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def kwok_stages(self) -> list[Path]:
        return sorted((self.folder / "kwok-stages").glob("*.yaml"))


def cache_root() -> Path:
    """``$TIDEWISE_CACHE`` or ``~/.cache/tidewise``: everything the build writes lives here."""
    # resolved, because ``down`` recognises our processes by the real path of their binary
    return Path(os.environ.get("TIDEWISE_CACHE", Path.home() / ".cache" / "tidewise")).resolve()


def required_version(gomod: Path, module: str) -> str:
    """The version ``gomod`` requires of ``module``."""
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", gomod.read_text(), re.MULTILINE)
    if match is None:
        raise BuildError(f"{gomod} does not require {module}")
    return match.group(1)


def read_pins() -> Pins:
    controlplane = CONTROLPLANE_MODULE / "go.mod"
    return Pins(
        kubernetes=required_version(controlplane, "k8s.io/kubernetes"),
        etcd=required_version(controlplane, "go.etcd.io/etcd/server/v3"),
        kwok=required_version(KWOK_MODULE / "go.mod", "sigs.k8s.io/kwok"),
    )


def modules_digest() -> str:
    """A change to any go.mod or go.sum means a different build."""
    digest = hashlib.sha256()
    for module in (CONTROLPLANE_MODULE, KWOK_MODULE):
        for name in ("go.mod", "go.sum"):
            digest.update((module / name).read_bytes())
    return digest.hexdigest()[:12]


def binaries_folder(pins: Pins) -> Path:
    return cache_root() / "bin" / pins.kubernetes


def stamped(folder: Path, digest: str) -> bool:
    """Whether ``folder`` holds a finished build of what ``digest`` names."""
    stamp = folder / ".stamp"
    return stamp.is_file() and stamp.read_text().strip() == digest


def cached_binaries() -> Binaries | None:
    """The cached build for the current pins, or None when it must be (re)built."""
    folder = binaries_folder(read_pins())
    return Binaries(folder) if stamped(folder, modules_digest()) else None


def go_environment() -> dict[str, str]:
    """Go's caches under ours, the toolchain as installed, and go.mod/go.sum read-only."""
    root = cache_root()
    return {
        **os.environ,
        "GOPATH": str(root / "go"),
        "GOMODCACHE": str(root / "go" / "pkg" / "mod"),
        "GOCACHE": str(root / "go-build"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        "CGO_ENABLED": "0",
    }


def kubernetes_ldflags(version: str) -> str:
    """Stamp the version the way upstream's hack/lib/version.sh does, so /version is honest."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.{name}={value}"
            for name, value in (
                ("gitVersion", version),
                ("gitMajor", major),
                ("gitMinor", minor),
                ("gitTreeState", "clean"),
                ("gitCommit", "unknown"),
                ("buildDate", "1970-01-01T00:00:00Z"),
            )
        ]
    return " ".join(flags)


def go_build(
    module: Path, output: Path, packages: list[str], flags: list[str], progress: Progress
) -> None:
    """``go build -v`` in ``module``, reporting every few hundred packages compiled."""
    started = time.monotonic()
    command = ["go", "build", "-v", "-trimpath", *flags, "-o", str(output), *packages]
    tail: deque[str] = deque(maxlen=40)
    compiled = downloaded = 0
    with subprocess.Popen(
        command,
        cwd=module,
        env=go_environment(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            if line.startswith("go: downloading"):
                downloaded += 1
                if downloaded == 1:
                    progress("  downloading modules from the Go module proxy")
                continue
            compiled += 1
            if compiled % PACKAGES_PER_PROGRESS_LINE == 0:
                progress(f"  {compiled} packages compiled ({time.monotonic() - started:.0f} s)")
    if process.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed in {module}:\n" + "\n".join(tail))
    progress(f"  done in {time.monotonic() - started:.0f} s ({compiled} packages compiled)")


def module_folder(module: Path, path: str) -> Path:
    """Where the module cache keeps a dependency's source (to read kwok's stage files)."""
    command = ["go", "list", "-m", "-f", "{{.Dir}}", path]
    listed = subprocess.run(
        command, cwd=module, env=go_environment(), text=True, capture_output=True, check=False
    )
    if listed.returncode != 0 or not listed.stdout.strip():
        raise BuildError(f"{' '.join(command)} failed: {listed.stderr.strip()}")
    return Path(listed.stdout.strip())


@contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Two test sessions on one machine build once; the second waits and reuses."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(pins: Pins, into: Path, progress: Progress) -> None:
    """Build every binary of the control plane into the empty folder ``into``."""
    progress(f"kube-apiserver, kube-controller-manager, kube-scheduler {pins.kubernetes}")
    go_build(
        CONTROLPLANE_MODULE,
        into,
        [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS],
        ["-tags", "selinux,notest,grpcnotrace", "-ldflags", kubernetes_ldflags(pins.kubernetes)],
        progress,
    )
    progress(f"etcd {pins.etcd}")
    go_build(
        CONTROLPLANE_MODULE,
        into / "etcd",
        ["go.etcd.io/etcd/server/v3"],
        ["-ldflags", "-s -w"],
        progress,
    )
    progress(f"kwok {pins.kwok}")
    go_build(
        KWOK_MODULE, into / "kwok", ["sigs.k8s.io/kwok/cmd/kwok"], ["-ldflags", "-s -w"], progress
    )
    stages = into / "kwok-stages"
    stages.mkdir()
    source = module_folder(KWOK_MODULE, "sigs.k8s.io/kwok") / "kustomize" / "stage"
    for stage in KWOK_STAGES:
        shutil.copyfile(source / stage, stages / Path(stage).name)


def ensure_binaries(progress: Progress) -> Binaries:
    """The cached binaries for the pinned versions, built first if the cache lacks them.

    Idempotent: a second call (or a second process) finds the stamp and returns at once.
    """
    if (cached := cached_binaries()) is not None:
        return cached
    pins = read_pins()
    folder = binaries_folder(pins)
    ensure_built(folder, modules_digest(), lambda into: build(pins, into, progress), progress)
    return Binaries(folder)


def ensure_built(
    folder: Path, digest: str, build_into: Callable[[Path], None], progress: Progress
) -> None:
    """``folder`` holding a build stamped ``digest``, made by ``build_into(scratch)`` unless
    it is there already: under a file lock (two sessions build once), into a scratch folder
    renamed into place at the end (an interrupted build leaves nothing half-made)."""
    if stamped(folder, digest):
        return
    if shutil.which("go") is None:
        raise BuildError("Go is not installed: the test environment is built from Go modules")
    with build_lock(folder):
        if stamped(folder, digest):
            return
        started = time.monotonic()
        progress(f"building into {folder} (first use; slow when cold)")
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
        try:
            build_into(scratch)
            (scratch / ".stamp").write_text(digest + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            scratch.chmod(0o755)
            scratch.rename(folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        progress(f"built {folder.name} in {time.monotonic() - started:.0f} s")
