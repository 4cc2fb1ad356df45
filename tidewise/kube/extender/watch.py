"""Keep the extender's books equal to the API server's: list, then watch, nodes and pods.

Why level-triggered (list, watch from the list's resourceVersion, and list again after any
error, a 410 Gone included): a restart, a dropped watch or a missed event heals at the next
listing, because the books are rebuilt from what the API server holds: the pods bound to
nodes, with the GPU indices their annotations record (DESIGN.md §1).

One object never stops the rest: a node whose capacity or GPU labels cannot be read is left
out of the books (a Warning Event on it says why, once, and ``tidewise_extender_skipped_nodes``
counts it) and every other node is served; before, one such node failed every listing, and
the extender answered 503 for ever while listing again each second. A pod whose request
cannot be read still counts its CPU and memory (:func:`holding_of`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Node, Pod

from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.events import event, record
from tidewise.kube.api.hami import HamiError, register_annotation, sized_by_register
from tidewise.kube.api.reservation import reservation_of
from tidewise.kube.api.resources import (
    PodRequestError,
    cpu_and_memory,
    has_finished,
    node_capacity,
    node_name,
    pod_request,
)
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.state import ASSUME_TTL_S, GpuShareBook, Holding
from tidewise.model import Resources

log = logging.getLogger(__name__)

COMPONENT = "tidewise-extender"
RELIST_PAUSE_S = 1.0
WATCH_TIMEOUT_S = 300  # the server closes a quiet watch; a silent hang cannot outlive it
EXPIRE_EVERY_S = ASSUME_TTL_S / 6
SKIPPED_REASON = "GpuShareNodeSkipped"


def holding_of(pod: Mapping[str, Any]) -> Holding | None:
    """What a pod from the API holds: ``None`` unless it is bound and has not finished."""
    node = (pod.get("spec") or {}).get("nodeName")
    if not node or has_finished(pod):
        return None
    try:
        requests = pod_request(pod)
    except PodRequestError as error:
        # bound by someone else with a request we cannot place: count its CPU and memory only
        log.warning("pod %s: %s; counting its CPU and memory only", _uid(pod), error)
        requests = cpu_and_memory(pod)
    return Holding(node, requests, recorded_gpus(pod) or ())


def created(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("creationTimestamp") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def capacity_of(node: Mapping[str, Any]) -> Resources | str:
    """The node's capacity, or why it cannot be read (a quantity or GPU label out of the
    grammar or out of range; on a node only HAMi's device plugin serves, its register)."""
    try:
        return sized_by_register(node, node_capacity(node))
    except HamiError as error:
        return str(error)
    except (ValueError, TypeError) as error:  # QuantityError is a ValueError
        return f"cannot read its capacity or GPU labels: {error}"


def observe_pod(book: GpuShareBook, event_type: str, pod: Mapping[str, Any]) -> bool:
    """Apply one pod event; whether it took away or changed what the pod held."""
    uid = _uid(pod)
    before = book.holdings.get(uid)
    holding = None if event_type == "DELETED" else holding_of(pod)
    if holding is not None:
        book.put_pod(uid, holding)
    elif event_type == "DELETED" or has_finished(pod):
        book.forget_pod(uid)
    return before is not None and book.holdings.get(uid) != before


class Sync:
    """Lists and watches into ``book``; ``synced`` is set once the first listing is in.

    ``freed`` is called whenever the books gain room that kube-scheduler may not know of
    (a pod or booking gone, a node added or changed, a fresh listing): the requeuer then asks
    the scheduler to try the pods the extender turned away (``requeue``).
    """

    def __init__(
        self,
        client: AsyncClient,
        book: GpuShareBook,
        metrics: ExtenderMetrics,
        freed: Callable[[], None] = lambda: None,
        synced: asyncio.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.book, self.metrics = client, book, metrics
        self.freed, self.monotonic, self.wall = freed, monotonic, wall
        self.synced = synced or asyncio.Event()
        self.skipped: dict[str, str] = {}  # node name -> why it is left out

    async def run(self) -> None:
        """Run forever: list, mark the books synced, watch; on any failure list again."""
        reason = "start"
        while True:
            try:
                self.metrics.relists.labels(reason=reason).inc()
                node_version, pod_version = await self.relist()
                self.synced.set()
                self.metrics.synced.set(1)
                log.info(
                    "books rebuilt: %d nodes (%d skipped), %d pods hold resources",
                    len(self.book.nodes),
                    len(self.skipped),
                    len(self.book.holdings),
                )
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._watch_nodes(node_version))
                    group.create_task(self._watch_pods(pod_version))
                    group.create_task(self._expire())
            except Exception as error:  # any failure: the next listing heals it
                reason = "gone" if _gone(error) else "error"
                self.metrics.synced.set(0)
                log.warning("watch ended (%s); listing again in %.0f s", error, RELIST_PAUSE_S)
            await asyncio.sleep(RELIST_PAUSE_S)

    async def relist(self) -> tuple[str, str]:
        """Replace the books with a fresh listing; the resourceVersions to watch from."""
        nodes = self.client.list(Node)
        node_objects = [n.to_dict() async for n in nodes]
        pods = self.client.list(Pod, namespace="*")
        pod_objects = [p.to_dict() async for p in pods]
        holdings = [(_uid(p), h) for p in pod_objects if (h := holding_of(p)) is not None]
        listed, unreadable = [], {}
        for node in node_objects:
            name, capacity = node_name(node), capacity_of(node)
            if isinstance(capacity, str):
                unreadable[name] = (capacity, _uid(node))
            else:
                listed.append((name, capacity, created(node)))
        for name in set(self.skipped) - set(unreadable):
            self._unskip(name)
        for name, (why, uid) in unreadable.items():
            await self._skip(name, uid, why)
        dropped = self.book.replace_all(
            listed, holdings, listed={_uid(p) for p in pod_objects}, now=self.monotonic()
        )
        self.book.hami_registers = {
            node_name(n): text for n in node_objects if (text := register_annotation(n)) is not None
        }
        self.book.reservations = {
            node_name(n): r for n in node_objects if (r := reservation_of(n)) is not None
        }
        self.metrics.expired.inc(len(dropped))
        self.freed()
        return nodes.resourceVersion, pods.resourceVersion

    async def observe_node(self, event_type: str, node: Mapping[str, Any]) -> None:
        name = node_name(node)
        if event_type == "DELETED":
            self.book.remove_node(name)
            self.book.reserve(name, None)
            self._unskip(name)
            return
        if self.book.reserve(name, reservation_of(node)):
            self.freed()  # a reservation released (or moved): pods turned away may fit
        capacity = capacity_of(node)
        if isinstance(capacity, str):
            self.book.remove_node(name)
            await self._skip(name, _uid(node), capacity)
            return
        self._unskip(name)
        self.book.put_hami_register(name, register_annotation(node))
        if self.book.nodes.get(name) != (capacity, created(node)):
            self.book.put_node(name, capacity, created(node))
            self.freed()

    async def _skip(self, name: str, uid: str, why: str) -> None:
        """Leave the node out; say so once per reason, on the node and in the log."""
        if self.skipped.get(name) == why:
            return
        self.skipped[name] = why
        self.metrics.skipped_nodes.set(len(self.skipped))
        log.warning("node %s left out of the GPU-share books: %s", name, why)
        message = f"the GPU-share extender leaves this node out: {why}; fix the node's object"
        told = event(
            "Node", name, None, SKIPPED_REASON, message, warning=True, component=COMPONENT, uid=uid
        )
        await record(self.client, told)

    def _unskip(self, name: str) -> None:
        if self.skipped.pop(name, None) is not None:
            self.metrics.skipped_nodes.set(len(self.skipped))
            log.info("node %s is readable again: back on the books", name)

    async def _watch_nodes(self, version: str) -> None:
        async for event_type, node in self.client.watch(
            Node, resource_version=version, server_timeout=WATCH_TIMEOUT_S
        ):
            await self.observe_node(event_type, node.to_dict())

    async def _watch_pods(self, version: str) -> None:
        async for event_type, pod in self.client.watch(
            Pod, namespace="*", resource_version=version, server_timeout=WATCH_TIMEOUT_S
        ):
            if observe_pod(self.book, event_type, pod.to_dict()):
                self.freed()

    async def _expire(self) -> None:
        """Drop the bookings never seen bound in time (``state.ASSUME_TTL_S``) and the GPU
        reservations past their expiry (by the wall clock, which their expiry is written in)."""
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            if self.book.expire_reservations(self.wall()):
                self.freed()
            dropped = self.book.expire(self.monotonic())
            if dropped:
                log.warning("bookings never bound, dropped: %s", ", ".join(dropped))
                self.metrics.expired.inc(len(dropped))
                self.freed()


def _gone(error: BaseException) -> bool:
    """Whether the failure is the API server's 410 Gone (a resourceVersion too old),
    possibly inside the TaskGroup's exception group."""
    if isinstance(error, BaseExceptionGroup):
        return any(_gone(inner) for inner in error.exceptions)
    return isinstance(error, ApiError) and error.status.code == 410
