"""A scenario's capacity policy, as the Karpenter render reads it.

The twin's ``tidewise`` policy and a cluster steered through Karpenter must buy alike, so the
render is fed what the twin runs on: the scenario's catalog and node pools, its workloads,
the node autoscaler settings and spot weighting of the ``tidewise`` policy, and the reserved
floor the twin commits to (docs/karpenter.md).
"""

from __future__ import annotations

from pathlib import Path

from tidewise.capacity.karpenter import (
    KarpenterPolicy,
    NodeClassRef,
    NodePoolSpec,
    floor_commitments,
)
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.sim.services.policies import TIDEWISE_NODES
from tidewise.sim.services.runner import capacity_inputs
from tidewise.sim.services.scenario import Scenario, ScenarioError

DEFAULT_NODE_CLASS = {"aws": NodeClassRef("karpenter.k8s.aws", "EC2NodeClass", "default")}
"""The node class of each provider's Karpenter whose API group we could check (AWS's
``EC2NodeClass``); for another provider the user names theirs."""


def karpenter_policy(
    scenario: Scenario, base: Path, node_class: NodeClassRef | None = None
) -> KarpenterPolicy:
    """What ``tidewise karpenter render`` renders for ``scenario`` (paths relative to
    ``base``); ``node_class`` defaults to the provider's, where one is known."""
    provider = scenario.catalog.provider
    node_class = node_class or DEFAULT_NODE_CLASS.get(provider)
    if node_class is None:
        raise ScenarioError(
            f"--node-class: no default node class for provider {provider!r}; give your "
            "Karpenter provider's as GROUP/KIND/NAME"
        )
    _, offerings, workloads = capacity_inputs(scenario, base)
    return KarpenterPolicy(
        offerings=offerings,
        pools=tuple(NodePoolSpec(p.name, tuple(p.instance_types)) for p in scenario.node_pools),
        workloads=workloads,
        node_class=node_class,
        settings=TIDEWISE_NODES,
        spot_pools=SpotPoolRules(),
        commitments=floor_commitments(workloads, offerings, scenario.catalog.reserved.discount),
    )
