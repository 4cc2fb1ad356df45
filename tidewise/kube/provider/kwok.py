"""A provider whose machines are kwok fake nodes: the real provisioner, no cloud bill.

``launch`` returns at once and creates the Node after ``boot_delay_s``, as a VM registers
only once it has booted: the provisioner must count booting machines (``list``) or it would
buy again for the same pods. The Node carries the kwok annotation (kwok then keeps it Ready
and plays its pods' kubelet), kwok's taint (only pods that tolerate fake nodes land there),
the well-known labels, and capacity from the catalog.

Interruptions are simulated, as no cloud reclaims a kwok node: annotate one of its Nodes with
:data:`SIMULATED_INTERRUPTION` (the value is the notice in seconds, e.g. ``120``; or call
:meth:`KwokProvider.interrupt`) and ``notices`` reports it, its deadline counted from when the
provider first saw the annotation. An annotation on the Node, not provider memory, so that a
test (or ``kubectl annotate``) outside the provisioner's process can raise it: the kwok
counterpart of the signal AWS's node termination handler relays.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import NodeSpec, NodeStatus, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node

from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE
from tidewise.kube.api.resources import GPU_MEMORY_LABEL, MODEL_LABEL, NVIDIA_GPU
from tidewise.kube.provider.interface import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    PROVISIONER,
    ZONE,
    Instance,
    InterruptionNotice,
)
from tidewise.model import Offering

log = logging.getLogger(__name__)

MAX_PODS = "110"  # the kubelet's default --max-pods
SIMULATED_INTERRUPTION = "tidewise.io/simulated-interruption"
"""Test and simulation hook: a kwok Node annotated so has a reclaim announced, in this many
seconds (a number; the AWS spot notice is 120)."""


def node_object(name: str, offering: Offering, labels: Mapping[str, str]) -> Node:
    """The Node a machine of ``offering`` registers as, with kwok's annotation and taint."""
    kind = offering.instance_type
    capacity = {"cpu": f"{kind.vcpus:g}", "memory": f"{kind.memory_mib}Mi", "pods": MAX_PODS}
    node_labels = {
        **labels,
        INSTANCE_TYPE: kind.name,
        ZONE: offering.zone,
        CAPACITY_TYPE: offering.option.value,
    }
    if kind.gpu_count:
        capacity[NVIDIA_GPU] = str(kind.gpu_count)
        node_labels[MODEL_LABEL] = kind.gpu_model or ""
        node_labels[GPU_MEMORY_LABEL] = str(kind.gpu_memory_mib)
    return Node(
        metadata=ObjectMeta(
            name=name, labels=node_labels, annotations={FAKE_NODE_ANNOTATION: FAKE_NODE_VALUE}
        ),
        spec=NodeSpec(
            taints=[Taint(key=FAKE_NODE_ANNOTATION, value=FAKE_NODE_VALUE, effect="NoSchedule")]
        ),
        status=NodeStatus(capacity=capacity, allocatable=capacity),
    )


class KwokProvider:
    """Launches kwok nodes of the catalog's ``offerings``."""

    name = "kwok"

    def __init__(
        self,
        client: AsyncClient,
        offerings: Sequence[Offering],
        boot_delay_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._offerings = {o.key: o for o in offerings}
        self._boot_delay_s = boot_delay_s
        self._clock = clock
        self._booting: dict[str, tuple[Instance, asyncio.Task[None]]] = {}
        self._notice_seen: dict[str, float] = {}  # node -> when its annotation was first seen

    @property
    def labels(self) -> Mapping[str, str]:
        return {PROVISIONER: self.name}

    @property
    def taints(self) -> Sequence[tuple[str, str, str]]:
        return [(FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE, "NoSchedule")]

    async def launch(self, offering: Offering) -> str:
        name = f"kwok-{offering.instance_type.name.replace('.', '-')}-{uuid.uuid4().hex[:6]}"
        instance = Instance(name, offering, self._clock())
        task = asyncio.create_task(self._boot(instance))
        self._booting[name] = (instance, task)
        return name

    async def _boot(self, instance: Instance) -> None:
        await asyncio.sleep(self._boot_delay_s)
        await self._client.create(node_object(instance.name, instance.offering, self.labels))
        del self._booting[instance.name]
        log.info("node %s (%s) registered", instance.name, instance.offering.key)

    async def terminate(self, name: str) -> None:
        booting = self._booting.pop(name, None)
        if booting is not None:
            booting[1].cancel()
        try:
            await self._client.delete(Node, name)
        except ApiError as error:
            if error.status.code != 404:
                raise

    async def list(self) -> Sequence[Instance]:
        registered = []
        async for node in self._client.list(Node, labels={PROVISIONER: self.name}):
            meta = node.metadata
            if meta is None or meta.name is None or meta.creationTimestamp is None:
                continue  # the API server sets all three on every Node it returns
            offering = self._offering_of(meta.labels or {})
            if offering is None:
                log.warning("node %s: its labels name no offering of the catalog", meta.name)
                continue
            registered.append(Instance(meta.name, offering, meta.creationTimestamp.timestamp()))
        known = {i.name for i in registered}
        return registered + [i for name, (i, _) in self._booting.items() if name not in known]

    def _offering_of(self, labels: Mapping[str, str]) -> Offering | None:
        key = f"{labels.get(INSTANCE_TYPE)}/{labels.get(ZONE)}/{labels.get(CAPACITY_TYPE)}"
        return self._offerings.get(key)

    async def notices(self) -> Sequence[InterruptionNotice]:
        """Nodes annotated with :data:`SIMULATED_INTERRUPTION` (nothing else reclaims a kwok
        node); the deadline runs from when the annotation was first seen by this process."""
        now = self._clock()
        noticed: list[InterruptionNotice] = []
        seen: dict[str, float] = {}
        async for node in self._client.list(Node, labels={PROVISIONER: self.name}):
            meta = node.metadata
            if meta is None or meta.name is None:
                continue  # the API server names every Node it returns
            name = meta.name
            value = (meta.annotations or {}).get(SIMULATED_INTERRUPTION)
            if value is None:
                continue
            try:
                notice_s = float(value)
            except ValueError:
                log.warning("node %s: %s=%r is not seconds", name, SIMULATED_INTERRUPTION, value)
                continue
            seen[name] = self._notice_seen.get(name, now)
            noticed.append(InterruptionNotice(name, seen[name] + notice_s))
        self._notice_seen = seen
        return noticed

    async def interrupt(self, name: str, notice_s: float = 120.0) -> None:
        """Announce a reclaim of ``name`` in ``notice_s`` seconds (the simulation hook)."""
        patch = {"metadata": {"annotations": {SIMULATED_INTERRUPTION: f"{notice_s:g}"}}}
        await self._client.patch(Node, name, patch)
