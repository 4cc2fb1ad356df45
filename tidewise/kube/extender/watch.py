"""Keep the extender's books equal to the API server's: list, then watch, nodes and pods.

Why level-triggered (list, watch from the list's resourceVersion, and list again after any
error, a 410 Gone included): a restart, a dropped watch or a missed event heals at the next
listing, because the books are rebuilt from what the API server holds: the pods bound to
nodes, with the GPU indices their annotations record (DESIGN.md §1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod

from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.resources import (
    PodRequestError,
    cpu_and_memory,
    node_capacity,
    node_name,
    pod_request,
)
from tidewise.kube.extender.state import GpuShareBook, Holding

log = logging.getLogger(__name__)

RELIST_PAUSE_S = 1.0
WATCH_TIMEOUT_S = 300  # the server closes a quiet watch; a silent hang cannot outlive it
FINISHED = ("Succeeded", "Failed")


def holding_of(pod: Mapping[str, Any]) -> Holding | None:
    """What a pod from the API holds: ``None`` unless it is bound and has not finished."""
    node = (pod.get("spec") or {}).get("nodeName")
    if not node or (pod.get("status") or {}).get("phase") in FINISHED:
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


def observe_pod(book: GpuShareBook, event: str, pod: Mapping[str, Any]) -> None:
    uid = _uid(pod)
    holding = None if event == "DELETED" else holding_of(pod)
    if holding is not None:
        book.put_pod(uid, holding)
    elif event == "DELETED" or (pod.get("status") or {}).get("phase") in FINISHED:
        book.forget_pod(uid)


def observe_node(book: GpuShareBook, event: str, node: Mapping[str, Any]) -> None:
    if event == "DELETED":
        book.remove_node(node_name(node))
    else:
        book.put_node(node_name(node), node_capacity(node), created(node))


async def relist(client: AsyncClient, book: GpuShareBook) -> tuple[str, str]:
    """Replace the books with a fresh listing; the resourceVersions to watch from."""
    nodes = client.list(Node)
    node_objects = [n.to_dict() async for n in nodes]
    pods = client.list(Pod, namespace="*")
    pod_objects = [p.to_dict() async for p in pods]
    holdings = [(_uid(p), h) for p in pod_objects if (h := holding_of(p)) is not None]
    listed = [(node_name(n), node_capacity(n), created(n)) for n in node_objects]
    book.replace_all(listed, holdings)
    return nodes.resourceVersion, pods.resourceVersion


async def _watch_nodes(client: AsyncClient, book: GpuShareBook, version: str) -> None:
    async for event, node in client.watch(
        Node, resource_version=version, server_timeout=WATCH_TIMEOUT_S
    ):
        observe_node(book, event, node.to_dict())


async def _watch_pods(client: AsyncClient, book: GpuShareBook, version: str) -> None:
    async for event, pod in client.watch(
        Pod, namespace="*", resource_version=version, server_timeout=WATCH_TIMEOUT_S
    ):
        observe_pod(book, event, pod.to_dict())


async def follow(client: AsyncClient, book: GpuShareBook, synced: asyncio.Event) -> None:
    """Run forever: list, mark the books synced, watch; on any failure list again."""
    while True:
        try:
            node_version, pod_version = await relist(client, book)
            synced.set()
            log.info(
                "books rebuilt: %d nodes, %d pods hold resources",
                len(book.nodes),
                len(book.holdings),
            )
            async with asyncio.TaskGroup() as group:
                group.create_task(_watch_nodes(client, book, node_version))
                group.create_task(_watch_pods(client, book, pod_version))
        except Exception as error:  # any failure: the next listing heals it
            log.warning("watch ended (%s); listing again in %.0f s", error, RELIST_PAUSE_S)
        await asyncio.sleep(RELIST_PAUSE_S)
