"""Traffic between clusters, for real: gateway adapters (HAProxy, Kong), probes and the loops.

The decisions live in ``tidewise.fleet`` (pure); these modules only read and write a gateway's
weights, probe entry points and keep time. Both gateways satisfy :class:`Gateway`, so the shift
and the failover loop never know which one they drive.

Why a package of its own, outside ``tidewise.kube``: a gateway is reached over HTTP (Kong's
Admin API, decK's file) or a socket (HAProxy's runtime API), not through the Kubernetes API.
The one Kubernetes call here is ``degrade``'s: scaling optional Deployments on the surviving
cluster, through the kubeconfig the traffic file names for it (docs/traffic.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class GatewayError(RuntimeError):
    """The gateway refused or could not be reached; the message says which call and why."""


class Gateway(Protocol):
    def describe(self) -> str:
        """Which gateway, where, and how weights are written (for logs and ``fleet status``)."""
        ...

    def read_weights(self) -> dict[str, int]:
        """Each cluster's weight as the gateway carries it now."""
        ...

    def apply(self, weights: Mapping[str, int]) -> None:
        """Set every cluster's weight; clusters not named keep theirs."""
        ...
