"""A real Kubernetes control plane for tests: built from Go modules, run on loopback.

``build`` makes (once per pinned version) etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok; ``cluster`` starts them in a folder and stops them again. The
end-to-end suite and ``tidewise testenv`` use both; docs/testenv.md tells how it works.
"""

from tidewise.testenv.build import BuildError, ensure_binaries, read_pins
from tidewise.testenv.cluster import (
    Cluster,
    ClusterError,
    down,
    start_component,
    status,
    stop_component,
    up,
)

__all__ = [
    "BuildError",
    "Cluster",
    "ClusterError",
    "down",
    "ensure_binaries",
    "read_pins",
    "start_component",
    "status",
    "stop_component",
    "up",
]
