"""Carries out the degradation hook's decisions: a Deployment's replicas on the short cluster.

The hook (``tidewise.fleet.failover``) decides; this only patches ``spec.replicas`` of
``namespace/name`` through the cluster's own API server, so the survivor frees the capacity
its optional services held for the traffic that just moved to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from lightkube import Client
from lightkube.resources.apps_v1 import Deployment

from tidewise.fleet.failover import ScaleOnCluster


class DegradeError(RuntimeError):
    """A decision could not be carried out; the message names the cluster and workload."""


class DeploymentScaler:
    def __init__(self, clients: Mapping[str, Client]) -> None:
        self.clients = dict(clients)

    def __call__(self, action: ScaleOnCluster) -> None:
        client = self.clients.get(action.cluster)
        where = f"{action.cluster}: {action.workload}"
        if client is None:
            raise DegradeError(f"{where}: no kubeconfig for cluster {action.cluster!r}")
        namespace, _, name = action.workload.rpartition("/")
        try:
            client.patch(
                Deployment,
                name,
                {"spec": {"replicas": action.replicas}},
                namespace=namespace or "default",
            )
        except Exception as err:  # API refusals and transport errors alike: failover goes on
            raise DegradeError(f"{where}: scale to {action.replicas}: {err}") from None
