"""A spot interruption notice on a node: cordoned, replacement launched, pods rescheduled.

The provisioner runs as its own process (``tidewise provisioner run``, 1 s rounds, nodes boot
in 2 s); the notice is the kwok provider's simulation hook, the
``tidewise.io/simulated-interruption`` annotation on the Node, set from outside the process as
a cloud's termination signal would come. Scale-down waits 60 s, so the empty replacement is not
taken back before the drain fills it.
"""

from dataclasses import dataclass

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.kwok import Poller, available, deployment, provisioner_process, wait_for
from tidewise.kube.provider.drain import DRAINING
from tidewise.kube.provider.interface import CAPACITY_TYPE, INSTANCE_TYPE, PROVISIONER, ZONE
from tidewise.kube.provider.kwok import SIMULATED_INTERRUPTION
from tidewise.testenv import Cluster

pytestmark = pytest.mark.e2e

REPLICAS = 3
KWOK = {PROVISIONER: "kwok"}


@pytest.fixture
def provisioner(cluster: Cluster):
    log = "provisioner-interruption"
    with provisioner_process(cluster.folder, cluster.kubeconfig, log, 60) as process:
        yield process


@dataclass(frozen=True)
class Seen:
    """One listing of the provisioner's nodes, as the recorder saw it."""

    names: frozenset[str]
    cordoned: bool  # the noticed node, unschedulable
    draining: bool  # the noticed node, annotated as being drained


class NodeRecorder(Poller):
    """Lists the provisioner's nodes every 0.1 s while the block runs: each listing is one
    consistent read, so the order of what happened shows in the sequence."""

    every_s = 0.1

    def __init__(self, kube: Client, noticed: str) -> None:
        super().__init__()
        self.kube, self.noticed = kube, noticed
        self.seen: list[Seen] = []

    def look(self) -> None:
        nodes = {n.metadata.name: n for n in self.kube.list(Node, labels=KWOK)}
        node = nodes.get(self.noticed)
        cordoned = bool(node and node.spec and node.spec.unschedulable)
        draining = bool(node and DRAINING in (node.metadata.annotations or {}))
        self.seen.append(Seen(frozenset(nodes), cordoned, draining))


def test_noticed_node_is_cordoned_replaced_then_drained(kube, provisioner, provisioned):
    namespace = provisioned
    kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
    wait_for("every replica running", lambda: available(kube, namespace) == REPLICAS, deadline=180)
    (node,) = kube.list(Node, labels=KWOK)
    noticed, labels = node.metadata.name, node.metadata.labels
    assert labels[CAPACITY_TYPE] == "spot"

    patch = {"metadata": {"annotations": {SIMULATED_INTERRUPTION: "120"}}}
    with NodeRecorder(kube, noticed) as recorder:
        kube.patch(Node, noticed, patch)
        wait_for(
            "the noticed node gone",
            lambda: noticed not in {n.metadata.name for n in kube.list(Node, labels=KWOK)},
            deadline=120,
        )
        wait_for("every replica running again", lambda: available(kube, namespace) == REPLICAS)

    seen = recorder.seen
    # cordoned at the notice, before any drain began
    assert any(s.cordoned and not s.draining for s in seen if noticed in s.names)
    # the replacement was there before the drain began, and so before the node went
    draining = [s for s in seen if s.draining]
    assert draining, "the drain was never seen"
    assert len(draining[0].names) >= 2, "the drain began before a replacement was launched"
    assert all(s.cordoned for s in draining)

    nodes = list(kube.list(Node, labels=KWOK))
    assert noticed not in {n.metadata.name for n in nodes}
    (replacement,) = nodes
    pool = (labels[INSTANCE_TYPE], labels[ZONE])
    new = replacement.metadata.labels
    assert (new[INSTANCE_TYPE], new[ZONE]) != pool, "the replacement came from the reclaimed pool"
    pods = list(kube.list(Pod, namespace=namespace))
    assert len(pods) == REPLICAS
    assert all(p.status.phase == "Running" for p in pods)
    assert {p.spec.nodeName for p in pods} == {replacement.metadata.name}
    assert provisioner.poll() is None, "the provisioner died"
    told = kube.list(Event, namespace="default", fields={"involvedObject.name": noticed})
    assert {"InterruptionNotice", "ScaleDown"} <= {e.reason for e in told}
