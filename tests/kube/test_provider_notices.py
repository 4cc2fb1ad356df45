"""Interruption notices without a control plane: kwok's simulation hook, and the provisioner
cordoning a noticed node and handing it to the interruption policy."""

import asyncio
from datetime import UTC, datetime

from lightkube.models.core_v1 import NodeCondition
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.provider.fakes import FakeApi
from tidewise.capacity import NodeAutoscaler
from tidewise.capacity.interruptions import InterruptionHandler
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.kube.provider.kwok import INTERRUPTION_DEADLINE, SIMULATED_INTERRUPTION, node_object
from tidewise.kube.provider.loop import Order
from tidewise.model import NodeState, PurchaseOption

OPTIONS = frozenset({PurchaseOption.ON_DEMAND, PurchaseOption.SPOT})


class FakeClient(FakeApi):
    """The API over the given Nodes and Pods (lightkube objects)."""

    def __init__(self, nodes: list[Node], pods: list[Pod] = ()) -> None:
        super().__init__()
        for node in nodes:
            self.add("Node", node.to_dict())
        for pod in pods:
            self.add("Pod", pod.to_dict())

    @property
    def nodes(self):
        return {name: body for (_, name), body in self.objects["Node"].items()}

    @property
    def patches(self):
        return [(name, kind) for verb, kind, name in self.calls if verb == "patch"]


def spot_offering():
    catalog = load_catalog(
        builtin_catalog_path("aws-us-east-1"), provider="aws", instance_types=["m6i.large"]
    )
    offerings = [o for o in catalog.offerings if o.option in OPTIONS]
    return offerings, next(o for o in offerings if o.option is PurchaseOption.SPOT)


def kwok_node(name, offering, annotation=None):
    node = node_object(name, offering, {"tidewise.io/provisioner": "kwok"})
    node.metadata.creationTimestamp = datetime.now(UTC)
    if annotation is not None:
        node.metadata.annotations[SIMULATED_INTERRUPTION] = annotation
    node.status.conditions = [NodeCondition(type="Ready", status="True")]
    return node


def bound_pod(name, node):
    return Pod.from_dict(
        {
            "metadata": {"name": name, "namespace": "ns", "ownerReferences": []},
            "spec": {
                "nodeName": node,
                "containers": [
                    {"name": "main", "resources": {"requests": {"cpu": "600m", "memory": "512Mi"}}}
                ],
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }
    )


def test_kwok_notices_keep_their_deadline_and_skip_bad_values():
    offerings, spot = spot_offering()
    now = [1000.0]
    nodes = [kwok_node("a", spot, "120"), kwok_node("b", spot), kwok_node("c", spot, "soon")]
    client = FakeClient(nodes)
    provider = KwokProvider(client, offerings, clock=lambda: now[0])

    first = asyncio.run(provider.notices())
    now[0] = 1030.0
    again = asyncio.run(provider.notices())
    assert [(n.node, n.deadline_s) for n in first] == [("a", 1120.0)]
    assert again == first  # the deadline runs from when the notice was first seen
    assert client.nodes["a"]["metadata"]["annotations"][INTERRUPTION_DEADLINE] == (
        "1970-01-01T00:18:40Z"
    )

    del client.nodes["a"]["metadata"]["annotations"][SIMULATED_INTERRUPTION]
    assert asyncio.run(provider.notices()) == []
    asyncio.run(provider.interrupt("b", notice_s=30))
    annotations = client.nodes["b"]["metadata"]["annotations"]
    assert annotations[SIMULATED_INTERRUPTION] == "30"


def test_a_noticed_node_is_cordoned_and_replaced_from_another_pool():
    offerings, spot = spot_offering()
    client = FakeClient([kwok_node("a", spot, "120")], [bound_pod("web-1", "a")])
    provider = KwokProvider(client, offerings, clock=lambda: 1000.0)
    launched = []

    async def launch(offering):
        launched.append(offering)
        return "b"

    provider.launch = launch
    provisioner = Provisioner(
        client,
        provider,
        NodeAutoscaler(OPTIONS),
        offerings,
        clock=lambda: 1000.0,
        interruptions=InterruptionHandler(OPTIONS),
    )
    view, must = asyncio.run(provisioner.observe())
    assert must == []  # the interruption policy decides when to drain
    assert client.nodes["a"]["spec"]["unschedulable"] is True
    (seen,) = view.nodes
    assert seen.state is NodeState.CORDONED
    assert seen.notice_s + spot.notice_s == 1120.0  # the policy's reclaim is the deadline

    asyncio.run(provisioner.reconcile())  # the replacement, no drain yet: nowhere to go
    (replacement,) = launched
    assert (replacement.instance_type.name, replacement.zone) != ("m6i.large", spot.zone)


def test_without_an_interruption_policy_a_noticed_node_is_drained_at_once():
    offerings, spot = spot_offering()
    client = FakeClient([kwok_node("a", spot, "120")])
    provider = KwokProvider(client, offerings, clock=lambda: 1000.0)
    provisioner = Provisioner(client, provider, NodeAutoscaler(OPTIONS), offerings)
    _, must = asyncio.run(provisioner.observe())
    assert must == [Order("a", "interruption notice", voluntary=False)]
