"""Each workload's on-demand base on a real cluster: ``tidewise operator`` serves the
webhook (by URL on 127.0.0.1, trusted through the testenv CA) and runs the reconciler under
the shipped ServiceAccount and RBAC; upstream's kwok Karpenter buys the nodes."""

import base64
import json
import re
import ssl
import time
import urllib.request
from collections import Counter

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.karpenter import apply, pool
from tests.kube.kwok import lease_holder, operator_process, wait_for
from tests.kube.on_demand_base import (
    POOL_LABEL,
    apply_webhook,
    based_deployment,
    delete_webhook,
    operator_config,
    placed,
    running_on_demand,
    watch_while,
    webhook_configuration,
)
from tidewise.kube.ondemand.workloads import DELETION_COST, PINNED
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

TYPES = ["m6i.large", "m6i.xlarge", "c6i.large", "c6i.xlarge"]
APP = "web"
IDENTITY = "on-demand-base"


@pytest.fixture
def based(cluster: Cluster, kube: Client, karpenter: str, catalog):
    """The operator with the webhook and the reconciler, its webhook configuration, and a
    NodePool of a few small types (on-demand and spot); yields the namespace and the
    webhook's port."""
    namespace = karpenter
    apply(kube, pool("e2e-base", TYPES, catalog))
    ports = free_ports(("health", "webhook"))
    config = operator_config(cluster, ports["webhook"], cluster.folder / f"{namespace}.yaml")
    hook = webhook_configuration(cluster, ports["webhook"], namespace)
    options = ("--config", str(config), "--on-demand-base", "--node-engine", "none")
    with operator_process(cluster, kube, namespace, IDENTITY, ports["health"], *options) as p:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == IDENTITY, 60)
        apply_webhook(kube, hook)
        try:
            yield namespace, ports["webhook"], p
        finally:
            delete_webhook(kube, hook)
    log = (cluster.folder / f"logs/operator-{IDENTITY}.log").read_text()
    assert "forbidden" not in log.lower(), "the shipped RBAC refused a call"


def ask_webhook(cluster: Cluster, port: int, review: dict) -> dict:
    """POST an AdmissionReview as the API server does, trusting the testenv CA."""
    context = ssl.create_default_context(cafile=str(cluster.folder / "pki/ca.crt"))
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/mutate",
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return json.loads(answer.read())


def all_running(kube: Client, namespace: str, count: int) -> bool:
    replicas = placed(kube, namespace, APP)
    return len(replicas) == count and all(r.phase == "Running" for r in replicas)


def test_a_base_of_3_of_10_holds_on_demand_through_a_reclaim_a_rollout_and_a_scale_in(
    cluster: Cluster, kube: Client, based
):
    namespace, port, operator = based
    kube.create(based_deployment(APP, 10, "3", {POOL_LABEL: "e2e-base"}), namespace=namespace)

    def three_and_seven() -> bool:
        """All running, 3 pinned on-demand and 7 spot, each on a node of its type (the
        ReplicaSet creates pods in batches admitted at once: several may take the last
        base slot, and the reconciler replaces the extra ones)."""
        now = placed(kube, namespace, APP)
        return (
            all_running(kube, namespace, 10)
            and Counter(r.pinned for r in now) == {"on-demand": 3, "spot": 7}
            and all(r.node_capacity == r.pinned for r in now)
        )

    # Karpenter bought on-demand for the 3 pinned and spot for the 7 others
    wait_for("3 on on-demand, 7 on spot", three_and_seven, deadline=240)
    replicas = placed(kube, namespace, APP)
    for pod in kube.list(Pod, namespace=namespace, labels={"app": APP}):
        pinned = pod.metadata.labels[PINNED]
        cost = pod.metadata.annotations[DELETION_COST]
        assert cost == ("1" if pinned == "on-demand" else "0")
        required = pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        (term,) = required.nodeSelectorTerms
        keys = {(e.key, tuple(e.values)) for e in term.matchExpressions}
        wanted = ("on-demand", "reserved") if pinned == "on-demand" else ("spot",)
        assert ("karpenter.sh/capacity-type", wanted) in keys

    # the Events on the Deployment: one per replica pinned to on-demand, one per extra
    # on-demand replica replaced (as many as were pinned beyond the base)
    events = [
        e
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.kind == "Deployment" and e.involvedObject.name == APP
    ]
    pinned = [e for e in events if e.reason == "PinnedOnDemand"]
    exceeded = [e for e in events if e.reason == "BaseExceeded"]
    assert len(pinned) >= 3, [e.message for e in events]
    assert {e.source.component for e in pinned + exceeded} == {"tidewise-on-demand-base"}
    assert all(re.search(r"pinned to on-demand \(\d of a base of 3\)$", e.message) for e in pinned)
    replaced = sum(e.message.count(",") + 1 for e in exceeded)
    assert replaced == len(pinned) - 3, [e.message for e in events]
    print(f"pinned on-demand: {len(pinned)}, replaced as extra: {replaced}")

    # the webhook's reply to one more replica of this ReplicaSet: admitted, pinned to spot
    (rs,) = kube.list(ReplicaSet, namespace=namespace)
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs.metadata.name,
        "uid": rs.metadata.uid,
        "controller": True,
    }
    pod = {
        "metadata": {"generateName": "web-", "labels": {"app": APP}, "ownerReferences": [owner]},
        "spec": {"containers": [{"name": "main", "image": "fake"}]},
    }
    request = {"uid": "r1", "operation": "CREATE", "namespace": namespace, "object": pod}
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    answer = ask_webhook(cluster, port, review)["response"]
    assert answer["uid"] == "r1" and answer["allowed"] is True
    assert answer["patchType"] == "JSONPatch"
    patch = {op["path"]: op for op in json.loads(base64.b64decode(answer["patch"]))}
    assert patch["/metadata/labels"]["value"] == {"app": APP, PINNED: "spot"}
    assert patch["/metadata/annotations"]["value"] == {DELETION_COST: "0"}
    affinity = patch["/spec/affinity"]["value"]["nodeAffinity"]
    expression = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert expression == [
        {
            "matchExpressions": [
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
            ]
        }
    ]

    # a reclaim: a spot node deleted; on-demand never falls below 3 while it happens
    spot_node = next(r.node for r in replicas if r.pinned == "spot")
    kube.delete(Node, spot_node)

    def recovered() -> bool:
        gone = spot_node not in {n.metadata.name for n in kube.list(Node)}
        return gone and all_running(kube, namespace, 10)

    lost = {r.name for r in replicas if r.node == spot_node}
    samples = watch_while(kube, namespace, APP, recovered, deadline=240)
    print(f"reclaim of {spot_node} ({len(lost)} replicas): on-demand samples {samples}")
    assert min(samples) >= 3, samples
    after = placed(kube, namespace, APP)
    assert lost and not lost & {r.name for r in after}, "the reclaimed replicas were replaced"
    assert Counter(r.pinned for r in after) == {"on-demand": 3, "spot": 7}
    assert all(r.node_capacity == r.pinned for r in after)

    # a rollout with maxUnavailable 0 (docs/on-demand-base.md, "Rollouts"): the new
    # ReplicaSet's first replicas are pinned to on-demand, and the old one loses its spot
    # replicas first and its base only once the new base is available; 3 on on-demand all
    # along. (With the default 25 %, the Deployment controller may take the old base while
    # the new one waits for its node: up to maxUnavailable fewer, which the docs state.)
    template = {"metadata": {"annotations": {"e2e/rollout": "1"}}}
    strategy = {"rollingUpdate": {"maxUnavailable": 0}}
    rollout = {"spec": {"template": template, "strategy": strategy}}
    kube.patch(Deployment, APP, rollout, namespace=namespace)
    old = {r.name for r in after}

    def rolled() -> bool:
        now = placed(kube, namespace, APP)
        return not old & {r.name for r in now} and three_and_seven()

    samples = watch_while(kube, namespace, APP, rolled, deadline=240)
    print(f"rollout: on-demand samples {samples}")
    assert min(samples) >= 3, samples

    # scale to 2: spot goes first, both left on on-demand
    kube.patch(Deployment, APP, {"spec": {"replicas": 2}}, namespace=namespace)
    samples = watch_while(
        kube, namespace, APP, lambda: len(placed(kube, namespace, APP)) == 2, deadline=120
    )
    print(f"scale to 2: on-demand samples {samples}")
    assert min(samples) >= 2, samples
    # and it stays so (the reconciler must not replace a replica while the ReplicaSet
    # deletes the extra ones)
    settled = time.monotonic() + 5
    while time.monotonic() < settled:
        left = placed(kube, namespace, APP)
        assert [r.pinned for r in left] == ["on-demand", "on-demand"], left
        assert running_on_demand(left) == 2, left
        time.sleep(0.2)
    assert operator.poll() is None, "the operator died"
