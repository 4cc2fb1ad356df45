"""The base on fake nodes (kwok's stand for the bought ones; no Karpenter needed). The
reconciler repairs what admission could not hold: pods admitted while the webhook was
unreachable land on spot; the reconciler labels them by their node, finds the base short,
evicts spot replicas (``BaseShort``), and once the webhook answers their replacements are
pinned to on-demand. A StatefulSet holds its base on its first ordinals."""

import contextlib
import uuid
from collections import Counter

import pytest
from lightkube import ApiError, Client
from lightkube.models.apps_v1 import StatefulSetSpec
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.kwok import fake_node, lease_holder, operator_process, wait_for
from tests.kube.on_demand_base import (
    CAPACITY,
    apply_webhook,
    based_deployment,
    delete_webhook,
    operator_config,
    placed,
    webhook_configuration,
)
from tidewise.kube.ondemand.workloads import DELETION_COST, OBSERVED
from tidewise.testenv import Cluster
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

APP = "web"
GROUP = "tidewise.io/e2e-group"


@pytest.fixture
def nodes(kube: Client):
    """Names of an on-demand and a spot fake node (made by the test), deleted afterwards."""
    group = uuid.uuid4().hex[:6]
    names = {"on-demand": f"od-{group}", "spot": f"spot-{group}"}
    yield group, names
    for name in names.values():
        with contextlib.suppress(ApiError):  # never made
            kube.delete(Node, name)


def test_pods_admitted_without_the_webhook_are_replaced_until_the_base_is_on_demand(
    cluster: Cluster, kube: Client, namespace: str, nodes
):
    group, names = nodes
    selector = {GROUP: group}
    kube.create(fake_node(names["spot"], {}, {**selector, CAPACITY: "spot"}))
    ports = free_ports(("health", "webhook"))
    config = operator_config(cluster, ports["webhook"], cluster.folder / f"{namespace}.yaml")
    options = ("--config", str(config), "--on-demand-base", "--node-engine", "none")
    hook = webhook_configuration(cluster, ports["webhook"], namespace)
    with operator_process(cluster, kube, namespace, "repair", ports["health"], *options) as p:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == "repair", 60)
        # no webhook configuration yet: the pods are admitted as they come, all on spot
        kube.create(based_deployment(APP, 4, "2", selector, fake=True), namespace=namespace)

        def short_told() -> bool:
            return any(
                e.reason == "BaseShort" and e.involvedObject.kind == "Deployment"
                for e in kube.list(Event, namespace=namespace)
            )

        wait_for("the base found short", short_told, deadline=120)
        observed = [
            pod
            for pod in kube.list(Pod, namespace=namespace, labels={"app": APP})
            if OBSERVED in (pod.metadata.annotations or {})
        ]
        assert observed, "no pod was labelled by its node"
        assert all(pod.metadata.labels["tidewise.io/capacity-type"] == "spot" for pod in observed)
        event = next(e for e in kube.list(Event, namespace=namespace) if e.reason == "BaseShort")
        assert event.type == "Warning"
        assert "0 of a base of 2 replicas on on-demand" in event.message

        # the webhook answers again, and on-demand capacity exists
        kube.create(fake_node(names["on-demand"], {}, {**selector, CAPACITY: "on-demand"}))
        apply_webhook(kube, hook)
        try:

            def repaired() -> bool:
                now = placed(kube, namespace, APP)
                running = [r for r in now if r.phase == "Running"]
                on_demand = [r for r in running if r.pinned == "on-demand"]
                return len(running) == 4 and len(on_demand) == 2

            wait_for("the base on on-demand", repaired, deadline=120)
        finally:
            delete_webhook(kube, hook)
        now = placed(kube, namespace, APP)
        assert Counter(r.pinned for r in now) == {"on-demand": 2, "spot": 2}
        assert all(r.node_capacity == r.pinned for r in now)

        def costs_right() -> bool:
            pods = kube.list(Pod, namespace=namespace, labels={"app": APP})
            got = Counter(
                (
                    q.metadata.labels["tidewise.io/capacity-type"],
                    q.metadata.annotations[DELETION_COST],
                )
                for q in pods
                if q.metadata.deletionTimestamp is None
            )
            return got == {("on-demand", "1"): 2, ("spot", "0"): 2}

        wait_for("deletion costs", costs_right, deadline=30)
        assert p.poll() is None, "the operator died"
    log = (cluster.folder / "logs/operator-repair.log").read_text()
    assert "forbidden" not in log.lower(), "the shipped RBAC refused a call"


def test_a_statefulset_s_first_ordinals_hold_its_base_and_a_scale_in_keeps_them(
    cluster: Cluster, kube: Client, namespace: str, nodes
):
    """A StatefulSet of 4 with a base of "50%": pods 0 and 1 (made first, one at a time)
    pinned to on-demand, 2 and 3 to spot; scaled to 2, the highest ordinals go, and the base
    (50 % of 2: one) is held by pod 0 while pod 1, on-demand beyond it, is replaced on spot."""
    group, names = nodes
    selector = {GROUP: group}
    for capacity, name in names.items():
        kube.create(fake_node(name, {}, {**selector, CAPACITY: capacity}))
    ports = free_ports(("health", "webhook"))
    config = operator_config(cluster, ports["webhook"], cluster.folder / f"{namespace}.yaml")
    options = ("--config", str(config), "--on-demand-base", "--node-engine", "none")
    hook = webhook_configuration(cluster, ports["webhook"], namespace)
    with operator_process(cluster, kube, namespace, "sts", ports["health"], *options) as p:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == "sts", 60)
        apply_webhook(kube, hook)
        try:
            template = based_deployment(APP, 4, "50%", selector, fake=True)
            stateful = StatefulSet(
                metadata=template.metadata,
                spec=StatefulSetSpec(
                    replicas=4,
                    serviceName=APP,
                    selector=template.spec.selector,
                    template=template.spec.template,
                ),
            )
            kube.create(stateful, namespace=namespace)

            def pinned() -> dict[str, str]:
                return {
                    r.name: r.pinned
                    for r in placed(kube, namespace, APP)
                    if r.phase == "Running" and r.node_capacity == r.pinned
                }

            wait_for("4 replicas placed", lambda: len(pinned()) == 4, deadline=120)
            assert pinned() == {
                f"{APP}-0": "on-demand",
                f"{APP}-1": "on-demand",
                f"{APP}-2": "spot",
                f"{APP}-3": "spot",
            }
            kube.patch(StatefulSet, APP, {"spec": {"replicas": 2}}, namespace=namespace)
            wait_for("2 left", lambda: len(placed(kube, namespace, APP)) == 2, deadline=60)
            assert set(pinned()) <= {f"{APP}-0", f"{APP}-1"}
            wait_for(
                "pod 1, beyond the smaller base, replaced on spot",
                lambda: pinned() == {f"{APP}-0": "on-demand", f"{APP}-1": "spot"},
                deadline=60,
            )
            events = list(kube.list(Event, namespace=namespace))
            pins = [e for e in events if e.reason == "PinnedOnDemand"]
            assert {e.involvedObject.kind for e in pins} == {"StatefulSet"}
            assert len(pins) == 2
            assert any(e.reason == "BaseExceeded" for e in events)
        finally:
            delete_webhook(kube, hook)
        assert p.poll() is None, "the operator died"
