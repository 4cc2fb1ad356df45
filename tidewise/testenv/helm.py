"""The ``helm`` command, built from its Go module, to lint, render and install the chart
deploy/helm/tidewise in the tests.

Why: the chart is checked with the real helm (``helm lint``, ``helm template``, ``helm
install`` into the test control plane), and no registry we can reach ships the helm binary,
but the Go module proxy ships its source. The wrapper module ``gomod/helm`` pins the version
(its go.mod is the one place it lives); the build is cached under
``~/.cache/tidewise/bin/helm-<version>/helm`` like the control plane's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tidewise.testenv.build import (
    MODULES,
    Progress,
    cache_root,
    ensure_built,
    go_build,
    required_version,
    stamped,
)

HELM_MODULE = MODULES / "helm"
HELM = "helm.sh/helm/v4"


@dataclass(frozen=True)
class HelmBuild:
    """One cached build of the helm command."""

    folder: Path

    @property
    def command(self) -> Path:
        return self.folder / "helm"


def helm_version() -> str:
    return required_version(HELM_MODULE / "go.mod", HELM)


def sources_digest() -> str:
    """A change to the wrapper module's go.mod or go.sum means a different build."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((HELM_MODULE / name).read_bytes())
    return digest.hexdigest()[:12]


def build_folder() -> Path:
    return cache_root() / "bin" / f"helm-{helm_version()}"


def ldflags(version: str) -> str:
    """Stamp the version as helm's Makefile does, so ``helm version`` is honest."""
    return f"-s -w -X {HELM}/internal/version.version={version}"


def build_into(into: Path, progress: Progress) -> None:
    version = helm_version()
    progress(f"helm {version}")
    go_build(
        HELM_MODULE, into / "helm", [f"{HELM}/cmd/helm"], ["-ldflags", ldflags(version)], progress
    )


def ensure_helm(progress: Progress) -> HelmBuild:
    """The cached build for the pinned version, built first if the cache lacks it."""
    folder = build_folder()
    ensure_built(folder, sources_digest(), lambda into: build_into(into, progress), progress)
    return HelmBuild(folder)


def cached_helm() -> HelmBuild | None:
    folder = build_folder()
    return HelmBuild(folder) if stamped(folder, sources_digest()) else None
