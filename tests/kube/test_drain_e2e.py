"""A drain evicts through the Eviction API and waits while a PodDisruptionBudget says no."""

import asyncio
import logging
import threading

import pytest
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.kwok import (
    LowestAvailable,
    available,
    condition,
    deployment,
    fake_node,
    wait_for,
    web_budget,
)
from tidewise.kube.provider.drain import Drainer, delete_node

pytestmark = pytest.mark.e2e

REPLICAS = 3


async def drain_with_own_client(kubeconfig, node: str) -> None:
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="tidewise-tests")
    try:
        drainer = Drainer(client)
        await asyncio.wait_for(drainer.drain(node, "test", voluntary=True), timeout=120)
        await delete_node(client, node)
    finally:
        await client.close()


def add_node(kube: Client, name: str, labels: dict[str, str]) -> None:
    kube.create(fake_node(name, {}, labels))
    wait_for(f"{name} Ready", lambda: condition(kube.get(Node, name), "Ready"))


def test_drain_waits_for_the_budget_and_empties_the_node(kube, cluster, namespace, caplog):
    labels = {"drain-e2e": namespace}
    old, new = f"old-{namespace}", f"new-{namespace}"
    add_node(kube, old, labels)  # all replicas start on the node to be drained
    try:
        kube.create(deployment(REPLICAS, labels), namespace=namespace)
        kube.create(web_budget(), namespace=namespace)
        wait_for("every replica running", lambda: available(kube, namespace) == REPLICAS)

        with (
            caplog.at_level(logging.INFO, logger="tidewise.kube.provider.drain"),
            LowestAvailable(kube, namespace) as lowest,
        ):
            # no room for the first evicted replica's replacement yet: the budget must say no
            # to the second eviction, however fast or slow the machine is
            draining = threading.Thread(
                target=asyncio.run, args=(drain_with_own_client(cluster.kubeconfig, old),)
            )
            draining.start()
            said_no = "wait for their disruption budgets"
            wait_for("the budget to refuse an eviction", lambda: said_no in caplog.text)
            add_node(kube, new, labels)
            draining.join(timeout=150)
            assert not draining.is_alive(), "the drain did not finish"
            wait_for("every replica running again", lambda: available(kube, namespace) == REPLICAS)

        assert lowest.seen >= REPLICAS - 1
        assert old not in {n.metadata.name for n in kube.list(Node)}
        assert {p.spec.nodeName for p in kube.list(Pod, namespace=namespace)} == {new}
    finally:
        for name in (old, new):
            if name in {n.metadata.name for n in kube.list(Node)}:
                kube.delete(Node, name)
