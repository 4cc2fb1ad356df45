"""The cluster as ``tidewise cost`` prices it: nodes priced from the catalog by their labels,
and the pods bound to them with their requests (read by the extender's rules, so a GPU share
pays for its share). The split itself is the pure ``tidewise.capacity.costshare``.

A virtual node (virtual-kubelet, ECI) is no machine and is not priced as one: each pod on it
is a serverless container billed per second for its own requests
(``costshare.serverless_costs``), so it has no idle remainder either."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod
from prometheus_client import CollectorRegistry, Gauge

from tidewise.capacity.costshare import (
    Allocation,
    Cost,
    PlacedPod,
    PricedNode,
    allocate,
    serverless_costs,
    unit_prices,
)
from tidewise.catalog import Catalog
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE, is_virtual
from tidewise.kube.api.resources import has_finished, node_capacity, node_name, pod_resources
from tidewise.kube.api.status import unix_s
from tidewise.model import Offering, PurchaseOption


@dataclass(frozen=True, slots=True)
class Priced:
    """The nodes that could be priced, and one line for each that could not or was priced
    approximately (so the user sees why a total is what it is)."""

    nodes: list[PricedNode]
    notes: list[str]


def _option(labels: Mapping[str, str]) -> PurchaseOption:
    try:
        return PurchaseOption(labels.get(CAPACITY_TYPE, PurchaseOption.ON_DEMAND.value))
    except ValueError:
        return PurchaseOption.ON_DEMAND


def price_nodes(nodes: Sequence[Mapping[str, Any]], catalog: Catalog) -> Priced:
    """Each node's hourly price: its instance type bought as its capacity type (on-demand when
    unlabelled) in its zone; in a zone the catalog does not know (a zone name where the catalog
    has zone IDs), the mean over the zones it does. A node of a type the catalog lacks is left
    out, with a note; a virtual node too, silently (its pods are billed on their own:
    :func:`serverless_usage`)."""
    priced, notes = [], []
    for node in nodes:
        if is_virtual(node):
            continue
        name = node_name(node)
        labels = (node.get("metadata") or {}).get("labels") or {}
        kind, zone, option = labels.get(INSTANCE_TYPE), labels.get(ZONE, ""), _option(labels)
        if kind is None or kind not in catalog.instance_types:
            notes.append(f"{name}: instance type {kind!r} not in the {catalog.provider} catalog")
            continue
        try:
            price = catalog.offering(kind, zone, option).price_per_hour
        except KeyError:
            zones = [
                o.price_per_hour
                for o in catalog.offerings
                if o.instance_type.name == kind and o.option is option
            ]
            if not zones:
                notes.append(f"{name}: {kind} is not offered as {option.value}")
                continue
            notes.append(f"{name}: zone {zone!r} unknown; priced at the mean of {kind}'s zones")
            price = statistics.fmean(zones)
        priced.append(PricedNode(name, price, node_capacity(node)))
    return Priced(priced, notes)


def placed_pods(pods: Sequence[Mapping[str, Any]]) -> list[PlacedPod]:
    """The pods that hold resources on a node: bound and not finished."""
    return [p for pod in pods if not has_finished(pod) and (p := _placed(pod)) is not None]


def _placed(pod: Mapping[str, Any]) -> PlacedPod | None:
    """The pod as bound to its node, if it is bound."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if not spec.get("nodeName"):
        return None
    namespace, name = _key(pod)
    labels = dict(meta.get("labels") or {})
    return PlacedPod(name, namespace, str(spec["nodeName"]), pod_resources(pod), labels)


def cost_so_far_usd(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    catalog: Catalog,
    now_unix_s: float,
) -> dict[tuple[str, str], float]:
    """USD each pod has cost from its start (``status.startTime``) to its end (its last
    container's ``finishedAt``) or now: its hourly cost as ``tidewise cost`` prices it now
    (:func:`cluster_cost`: a share of its node, or per pod-second on a virtual node) times its
    hours. A pod never moves (a new pod is a new name), so one node prices its whole life; a
    finished pod is priced alone on its node (its neighbours while it ran are not known now).
    Keys: (namespace, name); pods never started are left out."""
    now = cluster_cost(nodes, pods, catalog, now_unix_s)
    hourly = dict(now.allocation.pods)
    priced = {n.name: n for n in now.priced.nodes}
    prices = unit_prices(catalog.offerings)
    for pod in pods:
        if not has_finished(pod) or (placed := _placed(pod)) is None:
            continue
        if placed.node in priced:
            hourly.update(allocate([priced[placed.node]], [placed], prices).pods)
        elif placed.node in now.usage.virtual_nodes:
            hourly.update(serverless_bills([placed], catalog.offerings)[0])
    costs = {}
    for pod in pods:
        key, ran_s = _key(pod), run_seconds(pod, now_unix_s)
        if key in hourly and ran_s is not None:
            costs[key] = hourly[key].total * ran_s / 3600
    return costs


def run_seconds(pod: Mapping[str, Any], now_unix_s: float) -> float | None:
    """Seconds the pod has run: from ``status.startTime`` to its last container's end when it
    has finished, else to now; None until the kubelet reports a start."""
    status = pod.get("status") or {}
    start = unix_s(status.get("startTime"))
    if start is None:
        return None
    end = _finished_s(status) if has_finished(pod) else now_unix_s
    return max((end or start) - start, 0.0)


def _finished_s(status: Mapping[str, Any]) -> float | None:
    """When the pod's last container ended."""
    ends = [
        unix_s(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in status.get("containerStatuses") or []
    ]
    return max((e for e in ends if e is not None), default=None)


def _key(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace", "default")), str(meta.get("name", ""))


@dataclass(frozen=True, slots=True)
class ServerlessUsage:
    """The pods on virtual nodes, and the pod-seconds each has run there so far."""

    virtual_nodes: set[str]
    pods: list[PlacedPod]
    seconds: dict[tuple[str, str], float]  # (namespace, name)


def serverless_usage(
    nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]], now_s: float
) -> ServerlessUsage:
    """The placed pods on a virtual node, each with the seconds from its ``status.startTime``
    to ``now_s`` (Unix seconds; 0 until the virtual kubelet reports a start)."""
    virtual = {node_name(n) for n in nodes if is_virtual(n)}
    ran_s = {_key(pod): run_seconds(pod, now_s) for pod in pods}
    placed = [p for p in placed_pods(pods) if p.node in virtual]
    seconds = {(p.namespace, p.name): ran_s.get((p.namespace, p.name)) or 0.0 for p in placed}
    return ServerlessUsage(virtual, placed, seconds)


def serverless_bills(
    pods: Sequence[PlacedPod], offerings: Sequence[Offering]
) -> tuple[dict[tuple[str, str], Cost], list[str]]:
    """Each pod on a virtual node at the catalog's serverless price, and a note for each
    the catalog cannot price (no serverless offering, or a pod no container can host)."""
    offering = next((o for o in offerings if o.option is PurchaseOption.SERVERLESS), None)
    billed: dict[tuple[str, str], Cost] = {}
    notes = []
    for pod in pods:
        if offering is None:
            notes.append(f"{pod.namespace}/{pod.name}: the catalog has no serverless price")
            continue
        try:
            billed |= serverless_costs([pod], offering)
        except ValueError as error:
            notes.append(f"{pod.namespace}/{pod.name} on virtual node {pod.node}: {error}")
    return billed, notes


@dataclass(frozen=True, slots=True)
class ClusterCost:
    """The whole cluster priced at one instant: what ``tidewise cost`` prints and the
    operator exports as metrics, from one computation so the two never disagree."""

    pods: list[PlacedPod]  # bound, not finished
    allocation: Allocation  # USD per hour, per pod and per node's idle remainder
    priced: Priced
    usage: ServerlessUsage
    billed: dict[tuple[str, str], Cost]  # the pods on virtual nodes, per pod-second
    notes: list[str]
    nodes_seen: int

    @property
    def nodes_usd_per_hour(self) -> float:
        return sum(n.usd_per_hour for n in self.priced.nodes)

    @property
    def serverless_usd_per_hour(self) -> float:
        return sum(c.total for c in self.billed.values())

    @property
    def nodes_unpriced(self) -> int:
        return self.nodes_seen - len(self.priced.nodes) - len(self.usage.virtual_nodes)


def cluster_cost(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    catalog: Catalog,
    now_unix_s: float,
) -> ClusterCost:
    """Every node priced and split over its pods, the pods on virtual nodes billed on their
    own, at ``now_unix_s``."""
    placed = placed_pods(pods)
    priced = price_nodes(nodes, catalog)
    usage = serverless_usage(nodes, pods, now_unix_s)
    billed, notes = serverless_bills(usage.pods, catalog.offerings)
    allocation = allocate(priced.nodes, placed, unit_prices(catalog.offerings), billed)
    return ClusterCost(placed, allocation, priced, usage, billed, priced.notes + notes, len(nodes))


def label_name(key: str) -> str:
    """A Kubernetes label key as a Prometheus label name, as kube-state-metrics writes it
    (``label_`` and the key with every other character an underscore)."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


class CostExporter:
    """What ``tidewise cost`` prints, as gauges on the operator's ``/metrics``: each pod's
    hourly cost by resource (with the pod labels asked for, to sum by team or app in
    PromQL), each node's price and idle remainder, the serverless bill. Prometheus keeps the
    history, so the cost of any past window is a query (docs/cost.md), not state here.

    Runs on the leader only, as every controller of ``api.loop``; a replica that stops
    leading clears its series, so two replicas never both report the cluster's cost."""

    name = "cost"

    def __init__(
        self,
        client: AsyncClient,
        registry: CollectorRegistry,
        catalog: Catalog,
        labels: Sequence[str] = (),
        period_s: float = 60.0,
    ) -> None:
        self.client, self.catalog, self.period_s = client, catalog, period_s
        self.labels = tuple(labels)
        extra = [label_name(key) for key in self.labels]
        self.pod = Gauge(
            "tidewise_pod_cost_usd_per_hour",
            "Each pod's share of its node's price (or its serverless bill), by resource.",
            ["namespace", "pod", "node", "resource", *extra],
            registry=registry,
        )
        self.idle = Gauge(
            "tidewise_idle_cost_usd_per_hour",
            "What each node costs that no pod requests, by resource.",
            ["node", "resource"],
            registry=registry,
        )
        self.node = Gauge(
            "tidewise_node_cost_usd_per_hour",
            "Each priced node's hourly price (instance type, capacity type and zone).",
            ["node"],
            registry=registry,
        )
        self.serverless = Gauge(
            "tidewise_serverless_cost_usd_per_hour",
            "The pods on virtual nodes, billed per pod-second, as a rate.",
            registry=registry,
        )
        self.unpriced = Gauge(
            "tidewise_cost_unpriced_nodes",
            "Nodes the catalog cannot price (their pods cost nothing in these figures).",
            registry=registry,
        )

    async def sync(self) -> float:
        nodes = [n.to_dict() async for n in self.client.list(Node)]
        pods = [p.to_dict() async for p in self.client.list(Pod, namespace="*")]
        self.publish(cluster_cost(nodes, pods, self.catalog, time.time()))
        return self.period_s

    def publish(self, now: ClusterCost) -> None:
        """Replace every series with ``now``'s (pods and nodes that went are dropped)."""
        self.forget()
        for pod in now.pods:
            cost = now.allocation.pods.get((pod.namespace, pod.name))
            if cost is None:
                continue
            extra = [pod.labels.get(key, "") for key in self.labels]
            for resource, usd in _by_resource(cost):
                self.pod.labels(pod.namespace, pod.name, pod.node, resource, *extra).set(usd)
        for node_name_, cost in now.allocation.idle.items():
            for resource, usd in _by_resource(cost):
                self.idle.labels(node_name_, resource).set(usd)
        for node in now.priced.nodes:
            self.node.labels(node.name).set(node.usd_per_hour)
        self.serverless.set(now.serverless_usd_per_hour)
        self.unpriced.set(now.nodes_unpriced)

    def forget(self) -> None:
        for gauge in (self.pod, self.idle, self.node):
            gauge.clear()
        self.serverless.set(0)
        self.unpriced.set(0)


def _by_resource(cost: Cost) -> tuple[tuple[str, float], ...]:
    return (("cpu", cost.cpu), ("memory", cost.memory), ("gpu", cost.gpu))
