"""A node that was Ready and turns NotReady is a failed node, not one that never booted: it
gets cluster-autoscaler's ``--scale-down-unready-time`` (20 min) before it is replaced,
while a node never Ready within ``--max-node-provision-time`` (15 min) is given back. Which
of the two a NotReady node is comes from the node itself (written when first seen Ready,
as Karpenter's NodeClaim records Initialized), so a restart does not forget it."""

import asyncio
import datetime

from tests.kube.provider.fakes import OPTIONS, Clock, FakeApi, offerings, ready, settle
from tidewise.capacity import NodeAutoscaler
from tidewise.kube.api.status import stamp
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.kube.provider.observe import INITIALIZED
from tidewise.model import Drain, NodeState


def not_ready(api, name, since_s):
    since = stamp(datetime.datetime.fromtimestamp(since_s, datetime.UTC))
    condition = {"type": "Ready", "status": "Unknown", "lastTransitionTime": since}
    api.body("Node", name)["status"]["conditions"] = [condition]


def drains(decisions):
    return [(d.node, d.reason) for d in decisions if isinstance(d, Drain)]


def test_a_node_that_turns_not_ready_is_given_the_unready_grace_then_replaced():
    async def scenario():
        api, clock, catalog = FakeApi(), Clock(), offerings("m6i.large")
        provider = KwokProvider(api, catalog, boot_delay_s=0, clock=clock)
        name = await provider.launch(catalog[0])
        await settle()
        ready(api)
        provisioner = Provisioner(api, provider, NodeAutoscaler(OPTIONS), catalog, clock=clock)
        clock.s += 10
        await provisioner.reconcile()  # seen Ready once: written on the node
        assert INITIALIZED in api.body("Node", name)["metadata"]["annotations"]
        not_ready(api, name, 1500.0)
        clock.s = 2000.0  # past the 15 min boot bound since its launch at 1000
        restarted = Provisioner(api, provider, NodeAutoscaler(OPTIONS), catalog, clock=clock)
        view, _ = await restarted.observe()
        (node,) = view.nodes
        assert (node.state, node.failed_s) == (NodeState.NOT_READY, 1500.0)
        assert drains(await restarted.reconcile()) == [], "a failed node drained at once"
        clock.s = 1500.0 + 1201
        assert drains(await restarted.reconcile()) == [(name, "not ready")]

    asyncio.run(scenario())


def test_a_registered_node_never_ready_within_the_boot_bound_is_given_back():
    async def scenario():
        api, clock, catalog = FakeApi(), Clock(), offerings("m6i.large")
        provider = KwokProvider(api, catalog, boot_delay_s=0, clock=clock)
        name = await provider.launch(catalog[0])
        await settle()
        not_ready(api, name, 1000.0)  # registered, the kubelet never got Ready
        provisioner = Provisioner(api, provider, NodeAutoscaler(OPTIONS), catalog, clock=clock)
        clock.s += 901
        assert drains(await provisioner.reconcile()) == [(name, "never became ready")]

    asyncio.run(scenario())
