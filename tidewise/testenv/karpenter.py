"""Karpenter with its kwok cloud provider, built from its Go module and run against the test
control plane.

Why: tidewise steers Karpenter (DESIGN.md §1), so its end-to-end tests need the real one:
the controllers of ``sigs.k8s.io/karpenter`` buying kwok nodes from the instance types that
tidewise writes from its catalog. The wrapper module ``gomod/karpenter`` pins the version
(v1.12.0, the newest whose go.mod asks for no newer Go than the machine's 1.26.8) and builds
two commands into ``~/.cache/tidewise/bin/karpenter-<version>/``:

* ``karpenter-kwok``: upstream's ``sigs.k8s.io/karpenter/kwok``, unchanged;
* ``karpenter-kwok-prioritized``: the same controllers whose launch takes the offering with
  the lowest NodeOverlay-adjusted price, as the AWS provider's prioritized CreateFleet does
  (``gomod/karpenter/prioritized``; upstream's kwok launch takes the lowest list price, so
  no price overlay could ever change what it buys).

The CRDs (NodePool, NodeClaim, NodeOverlay, KWOKNodeClass) are copied from the same module
version at build time, so the cluster serves exactly the schema the controllers expect.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidewise.testenv.build import (
    MODULES,
    BuildError,
    Progress,
    cache_root,
    ensure_built,
    go_build,
    go_environment,
    required_version,
    stamped,
)
from tidewise.testenv.cluster import Cluster, free_ports, served_process

KARPENTER_MODULE = MODULES / "karpenter"
KARPENTER = "sigs.k8s.io/karpenter"
COMMANDS = {
    "karpenter-kwok": f"{KARPENTER}/kwok",
    "karpenter-kwok-prioritized": "tidewise.local/testenv/karpenter/prioritized",
}
UPSTREAM, PRIORITIZED = COMMANDS
CRD_FILES = (
    "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    "pkg/apis/crds/karpenter.sh_nodeclaims.yaml",
    "pkg/apis/crds/karpenter.sh_nodeoverlays.yaml",
    "kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
)
FEATURE_GATES = "NodeOverlay=true,ReservedCapacity=true"
# Karpenter batches pending pods until none arrived for the idle time or the batch is this old
# (defaults 1 s and 10 s); shorter windows keep the tests short, at the cost of smaller batches
BATCH_IDLE = "500ms"
BATCH_MAX = "2s"
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class KarpenterBuild:
    """One cached build: the two commands and the CRDs of one Karpenter version."""

    folder: Path

    def command(self, name: str) -> Path:
        return self.folder / name

    @property
    def crds(self) -> list[Path]:
        return sorted((self.folder / "crds").glob("*.yaml"))


def karpenter_version() -> str:
    return required_version(KARPENTER_MODULE / "go.mod", KARPENTER)


def sources_digest() -> str:
    """A change to the wrapper module's go.mod, go.sum or Go code means a different build."""
    digest = hashlib.sha256()
    for path in sorted(KARPENTER_MODULE.rglob("*")):
        if path.is_file() and (path.name in ("go.mod", "go.sum") or path.suffix == ".go"):
            digest.update(str(path.relative_to(KARPENTER_MODULE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_folder() -> Path:
    return cache_root() / "bin" / f"karpenter-{karpenter_version()}"


def build_into(into: Path, progress: Progress) -> None:
    """Both commands and the CRDs into the empty folder ``into``."""
    version = karpenter_version()
    for name, package in COMMANDS.items():
        progress(f"{name} (karpenter {version})")
        go_build(KARPENTER_MODULE, into / name, [package], ["-ldflags", "-s -w"], progress)
    (into / "crds").mkdir()
    for crd in crd_sources():
        shutil.copyfile(crd, into / "crds" / crd.name)


def crd_sources() -> list[Path]:
    """The CRD files of the pinned version in Go's module cache (downloaded if missing,
    which takes seconds and compiles nothing)."""
    if shutil.which("go") is None:
        raise BuildError("Go is not installed: Karpenter's CRDs come from its Go module")
    command = ["go", "mod", "download", "-json", KARPENTER]
    listed = subprocess.run(
        command,
        cwd=KARPENTER_MODULE,
        env=go_environment(),
        text=True,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed: {listed.stderr.strip()}")
    source = Path(json.loads(listed.stdout)["Dir"])
    return [source / crd for crd in CRD_FILES]


def ensure_karpenter(progress: Progress) -> KarpenterBuild:
    """The cached build for the pinned version, built first if the cache lacks it."""
    folder = build_folder()
    ensure_built(folder, sources_digest(), lambda into: build_into(into, progress), progress)
    return KarpenterBuild(folder)


def cached_karpenter() -> KarpenterBuild | None:
    folder = build_folder()
    return KarpenterBuild(folder) if stamped(folder, sources_digest()) else None


def write_instance_types(path: Path, instance_types: list[dict[str, Any]]) -> Path:
    """The file ``INSTANCE_TYPES_FILE_PATH`` names (see ``kwok_instance_types``)."""
    path.write_text(json.dumps(instance_types, indent=1) + "\n")
    return path


def environment(cluster: Cluster, instance_types: Path, ports: dict[str, int]) -> dict[str, str]:
    """Karpenter's settings (``pkg/operator/options`` and ``kwok/options`` of v1.12.0 read
    them from the environment): the admin kubeconfig (controller-runtime reads
    ``KUBECONFIG``), the instance types, the feature gates, one replica so no leader
    election, free ports for metrics and health (it binds them on every interface: the
    option takes a port only), short batch windows, and debug logs for a failing test."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "KUBECONFIG": str(cluster.kubeconfig),
        "INSTANCE_TYPES_FILE_PATH": str(instance_types),
        "FEATURE_GATES": FEATURE_GATES,
        "DISABLE_LEADER_ELECTION": "true",
        "METRICS_PORT": str(ports["metrics"]),
        "HEALTH_PROBE_PORT": str(ports["health"]),
        "BATCH_IDLE_DURATION": BATCH_IDLE,
        "BATCH_MAX_DURATION": BATCH_MAX,
        "LOG_LEVEL": "debug",
    }


@contextmanager
def karpenter_process(
    cluster: Cluster, build: KarpenterBuild, instance_types: Path, command: str = UPSTREAM
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` (``karpenter-kwok`` or ``karpenter-kwok-prioritized``) running against
    ``cluster`` until the block ends, logging to ``logs/<command>.log`` in its folder. The
    CRDs must be installed first; the block starts once Karpenter is ready."""
    ports = free_ports(("metrics", "health"))
    with served_process(
        command,
        [str(build.command(command))],
        cluster.folder / "logs" / f"{command}.log",
        f"http://127.0.0.1:{ports['health']}/readyz",  # caches synced, CRDs served
        READY_TIMEOUT,
        environment(cluster, instance_types, ports),
    ) as process:
        yield process
