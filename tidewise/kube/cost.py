"""The cluster as ``tidewise cost`` prices it: nodes priced from the catalog by their labels,
and the pods bound to them with their requests (read by the extender's rules, so a GPU share
pays for its share). The split itself is the pure ``tidewise.capacity.costshare``.

A virtual node (virtual-kubelet, ECI) is no machine and is not priced as one: each pod on it
is a serverless container billed per second for its own requests
(``costshare.serverless_costs``), so it has no idle remainder either."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidewise.capacity.costshare import PlacedPod, PricedNode, allocate, unit_prices
from tidewise.catalog import Catalog
from tidewise.kube.api.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE, is_virtual
from tidewise.kube.api.resources import has_finished, node_capacity, node_name, pod_resources
from tidewise.kube.api.status import unix_s
from tidewise.model import PurchaseOption


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
    container's ``finishedAt``) or now: its hourly share of its node, as ``tidewise cost``
    splits it, times its hours. A pod never moves (a new pod is a new name), so one node
    prices its whole life; a finished pod is priced alone on its node (its neighbours while it
    ran are not known now). Keys: (namespace, name); pods never started are left out."""
    priced = {n.name: n for n in price_nodes(nodes, catalog).nodes}
    prices = unit_prices(catalog.offerings)
    running = placed_pods(pods)
    hourly = dict(allocate(list(priced.values()), running, prices).pods)
    for pod in pods:
        if has_finished(pod) and (placed := _placed(pod)) and placed.node in priced:
            hourly.update(allocate([priced[placed.node]], [placed], prices).pods)
    costs = {}
    for pod in pods:
        key, status = _key(pod), pod.get("status") or {}
        start = unix_s(status.get("startTime"))
        if key not in hourly or start is None:
            continue
        end = _finished_s(status) if has_finished(pod) else now_unix_s
        costs[key] = hourly[key].total * max((end or start) - start, 0.0) / 3600
    return costs


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
    started = {_key(pod): unix_s((pod.get("status") or {}).get("startTime")) for pod in pods}
    placed = [p for p in placed_pods(pods) if p.node in virtual]
    seconds = {}
    for pod in placed:
        start = started.get((pod.namespace, pod.name))
        seconds[(pod.namespace, pod.name)] = max(now_s - start, 0.0) if start else 0.0
    return ServerlessUsage(virtual, placed, seconds)
