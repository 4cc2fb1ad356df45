"""What the headroom end-to-end test and its benchmark (bench/headroom.py) share: the
ElasticScaler controller on a compressed clock, and a record of how long real pods waited.

Why a compressed clock: the forecast proposes after a day of load, and a day cannot pass in a
test. So the controller runs in this process, as the shipped ServiceAccount (the shipped
RBAC, a token minted for it), against the real API server, scheduler, Karpenter and kwok,
and only its clock and its load are stood in for: each sync moves the clock a minute and the
load query answers the replay's load at that minute. A day of history is a day of syncs
(writes only when something changes); the minutes around a peak are synced at the pace the
caller chooses while Karpenter, the scheduler and kwok work in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lightkube import AsyncClient, Client, KubeConfig
from lightkube.resources.core_v1 import Node, Pod
from prometheus_client import CollectorRegistry

from tests.kube.serviceaccount import components_for, operator_kubeconfig
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.headroom import HEADROOM_FOR
from tidewise.testenv import Cluster

MINUTE = timedelta(minutes=1)


class LoadStandIn:
    """Prometheus as the controller sees it: every query answers ``load`` at the clock."""

    def __init__(self, load: Callable[[datetime], float], clock: Callable[[], datetime]) -> None:
        self.load, self.clock = load, clock

    def resolve(self, section: Mapping[str, str] | None) -> str | None:
        return None

    async def query(self, promql: str, url: str | None = None) -> float:
        return self.load(self.clock())


class CompressedController:
    """The ElasticScaler controller as the shipped ServiceAccount; ``advance`` moves its
    clock and syncs every ElasticScaler once."""

    def __init__(
        self,
        cluster: Cluster,
        kube: Client,
        namespace: str,
        start: datetime,
        load: Callable[[datetime], float],
    ) -> None:
        config = operator_kubeconfig(cluster, kube, namespace, components_for(()))
        self.at = start
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(KubeConfig.from_file(config), field_manager="tidewise-operator")
        self.controller = ElasticScalerController(
            self.client,
            ControllerMetrics(CollectorRegistry()),
            LoadStandIn(load, lambda: self.at),
            60.0,
            clock=lambda: self.at,
        )

    def advance(self, minutes: int = 1) -> None:
        for _ in range(minutes):
            self.at += MINUTE
            self.loop.run_until_complete(self.controller.sync())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@dataclass(frozen=True)
class PodWait:
    """One pod: when it was created, bound, and to which node (created when); ``seen``, the
    last poll that saw it (a pod deleted while pending waited until then)."""

    name: str
    created: datetime
    scheduled: datetime | None
    node: str | None
    node_created: datetime | None
    seen: datetime

    @property
    def waited_for_a_node(self) -> bool:
        """Bound to a node that did not exist when it was created, or never bound."""
        return self.node_created is None or self.node_created >= self.created

    def wait_s(self) -> float:
        return ((self.scheduled or self.seen) - self.created).total_seconds()


@dataclass
class PodRecord:
    """Every pod of an app seen while polling (a pod deleted later keeps its record)."""

    kube: Client
    namespace: str
    labels: dict[str, str]
    pods: dict[str, PodWait] = field(default_factory=dict)
    nodes: dict[str, datetime] = field(default_factory=dict)

    def poll(self) -> bool:
        """Record what the API shows now; whether every pod it shows is bound."""
        now = datetime.now(UTC)
        for node in self.kube.list(Node):
            self.nodes.setdefault(node.metadata.name, node.metadata.creationTimestamp)
        bound_all = True
        for pod in self.kube.list(Pod, namespace=self.namespace, labels=self.labels):
            bound = next(
                (
                    c.lastTransitionTime
                    for c in (pod.status.conditions or [])
                    if c.type == "PodScheduled" and c.status == "True"
                ),
                None,
            )
            node = pod.spec.nodeName
            bound_all = bound_all and bound is not None
            self.pods[pod.metadata.name] = PodWait(
                pod.metadata.name,
                pod.metadata.creationTimestamp,
                bound,
                node,
                self.nodes.get(node) if node else None,
                now,
            )
        return bound_all

    def summary(self) -> dict[str, Any]:
        waited = [p for p in self.pods.values() if p.waited_for_a_node]
        return {
            "pods": len(self.pods),
            "waited_for_a_node": len(waited),
            "pod_seconds_waiting": round(sum(p.wait_s() for p in waited), 1),
            "max_wait_s": max((p.wait_s() for p in waited), default=0.0),
        }


def placeholders_of(kube: Client, namespace: str, scaler: str) -> list[Any]:
    return list(kube.list(Pod, namespace=namespace, labels={HEADROOM_FOR: scaler}))
