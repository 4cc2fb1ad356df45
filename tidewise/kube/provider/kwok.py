"""A provider whose machines are kwok fake nodes: the real provisioner, no cloud bill.

``launch`` records the machine (a ``Machine`` object, ``machines.py``), returns, and creates
the Node ``boot_delay_s`` after the launch, as a VM registers only once it has booted: the
provisioner must count booting machines (``list``) or it would buy again for the same pods,
and the record lets a restarted or succeeding process count them too and finish their boot.
The Node carries the kwok annotation (kwok then keeps it Ready and plays its pods' kubelet),
kwok's taint (only pods that tolerate fake nodes land there), the well-known labels, and
capacity from the catalog.

Interruptions are simulated, as no cloud reclaims a kwok node: annotate one of its Nodes with
:data:`SIMULATED_INTERRUPTION` (the value is the notice in seconds, e.g. ``120``; or call
:meth:`KwokProvider.interrupt`) and ``notices`` reports it, its deadline counted from when a
provider first saw the annotation and written beside it. An annotation on the Node, not
provider memory, so that a test (or ``kubectl annotate``) outside the provisioner's process
can raise it: the kwok counterpart of the signal AWS's node termination handler relays.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import NodeSpec, NodeStatus, Taint
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node

from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE
from tidewise.kube.api.resources import GPU_MEMORY_LABEL, MODEL_LABEL, NVIDIA_GPU
from tidewise.kube.api.status import parse_stamp, stamp
from tidewise.kube.provider.interface import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    PROVISIONER,
    ZONE,
    Instance,
    InterruptionNotice,
)
from tidewise.kube.provider.machines import Machine, launched_s, machine_record
from tidewise.model import Offering

log = logging.getLogger(__name__)

MAX_PODS = "110"  # the kubelet's default --max-pods
TRANSIENT = frozenset({429, 500, 502, 503, 504})  # worth registering again
REGISTER_RETRY_S = 1.0
REGISTER_RETRY_MAX_S = 30.0
SIMULATED_INTERRUPTION = "tidewise.io/simulated-interruption"
"""Test and simulation hook: a kwok Node annotated so has a reclaim announced, in this many
seconds (a number; the AWS spot notice is 120)."""
INTERRUPTION_DEADLINE = "tidewise.io/interruption-deadline"
"""When the simulated reclaim comes (RFC 3339), written when the notice is first seen."""


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
    """Launches kwok nodes of the catalog's ``offerings``.

    Its machines outlive the process, as a cloud's do: each is recorded as a ``Machine``
    before it boots, and a process that finds a record without a Node and without a boot of
    its own (a restart, a successor that took the Lease) boots it on, registering at its
    first launch time plus the boot delay.
    """

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
        self._failed: dict[str, Instance] = {}  # launches that failed, until terminated

    @property
    def labels(self) -> Mapping[str, str]:
        return {PROVISIONER: self.name}

    @property
    def taints(self) -> Sequence[tuple[str, str, str]]:
        return [(FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE, "NoSchedule")]

    async def launch(self, offering: Offering) -> str:
        """Record the machine, then boot it: a failed record buys nothing (it raises)."""
        name = f"kwok-{offering.instance_type.name.replace('.', '-')}-{uuid.uuid4().hex[:6]}"
        instance = Instance(name, offering, self._clock())
        record = machine_record(name, self.name, offering.key, instance.launched_s, self.labels)
        await self._client.create(record)
        self._boot_later(instance)
        return name

    def _boot_later(self, instance: Instance) -> None:
        self._booting[instance.name] = (instance, asyncio.create_task(self._boot(instance)))

    async def _boot(self, instance: Instance) -> None:
        """Register the machine's Node once booted, as a kubelet does: retry while the API
        server is away or overloaded, give up (``Instance.error``) when it refuses the Node."""
        await asyncio.sleep(max(instance.launched_s + self._boot_delay_s - self._clock(), 0.0))
        retry_s = REGISTER_RETRY_S
        node = node_object(instance.name, instance.offering, self.labels)
        while True:
            try:
                await self._client.create(node)
                break
            except ApiError as error:
                if error.status.code == 409:  # already registered (by another process)
                    break
                if error.status.code not in TRANSIENT:
                    failed = replace(instance, error=f"its Node was refused: {error}")
                    self._failed[instance.name] = failed
                    del self._booting[instance.name]
                    log.warning("node %s: %s", instance.name, failed.error)
                    return
                log.info("node %s: registration refused for now (%s)", instance.name, error)
            except Exception as error:  # unreachable API server: the kubelet keeps trying
                log.info("node %s: cannot register yet (%s), retrying", instance.name, error)
            await asyncio.sleep(retry_s)
            retry_s = min(retry_s * 2, REGISTER_RETRY_MAX_S)
        del self._booting[instance.name]
        log.info("node %s (%s) registered", instance.name, instance.offering.key)

    async def terminate(self, name: str) -> None:
        """The record first (so no process boots it on), then the boot, then the Node."""
        await self._delete(Machine, name)
        self._failed.pop(name, None)
        booting = self._booting.pop(name, None)
        if booting is not None:
            booting[1].cancel()
        await self._delete(Node, name)

    async def _delete(self, machine_or_node: Any, name: str) -> None:
        try:
            await self._client.delete(machine_or_node, name)
        except ApiError as error:
            if error.status.code != 404:  # already gone
                raise

    async def list(self) -> Sequence[Instance]:
        """Every recorded machine (booting ones booted on if no boot runs here), and nodes of
        this provider without a record (bought before records were kept)."""
        nodes: dict[str, Node] = {}
        async for node in self._client.list(Node, labels={PROVISIONER: self.name}):
            meta = node.metadata
            if meta is None or meta.name is None or meta.creationTimestamp is None:
                continue  # the API server sets all three on every Node it returns
            nodes[meta.name] = node
        held: list[Instance] = []
        async for record in self._client.list(Machine, labels={PROVISIONER: self.name}):
            if record.metadata is None or record.metadata.name is None:
                continue  # the API server names every object it returns
            name = record.metadata.name
            offering = self._offerings.get(record.spec.get("offering", ""))
            if offering is None:
                log.warning("machine %s: its offering is not in the catalog", name)
                continue
            instance = self._failed.get(name) or Instance(name, offering, launched_s(record))
            if name not in nodes and name not in self._booting and name not in self._failed:
                log.info("machine %s: not registered yet, booting it on", name)
                self._boot_later(instance)
            held.append(instance)
        recorded = {i.name for i in held}
        for name, node in nodes.items():
            meta = node.metadata
            assert meta is not None and meta.creationTimestamp is not None  # checked above
            offering = self._offering_of(meta.labels or {})
            if name in recorded:
                continue
            if offering is None:
                log.warning("node %s: its labels name no offering of the catalog", name)
                continue
            held.append(Instance(name, offering, meta.creationTimestamp.timestamp()))
        return held

    def _offering_of(self, labels: Mapping[str, str]) -> Offering | None:
        key = f"{labels.get(INSTANCE_TYPE)}/{labels.get(ZONE)}/{labels.get(CAPACITY_TYPE)}"
        return self._offerings.get(key)

    async def notices(self) -> Sequence[InterruptionNotice]:
        """Nodes annotated with :data:`SIMULATED_INTERRUPTION` (nothing else reclaims a kwok
        node). The deadline is written on the node (:data:`INTERRUPTION_DEADLINE`) when the
        annotation is first seen, as a cloud's notice carries its own time: a restart must
        not move the reclaim later."""
        now = self._clock()
        noticed: list[InterruptionNotice] = []
        async for node in self._client.list(Node, labels={PROVISIONER: self.name}):
            meta = node.metadata
            if meta is None or meta.name is None:
                continue  # the API server names every Node it returns
            name = meta.name
            annotations = meta.annotations or {}
            value = annotations.get(SIMULATED_INTERRUPTION)
            if value is None:
                continue
            try:
                notice_s = float(value)
            except ValueError:
                log.warning("node %s: %s=%r is not seconds", name, SIMULATED_INTERRUPTION, value)
                continue
            written = annotations.get(INTERRUPTION_DEADLINE)
            try:
                deadline = parse_stamp(written).timestamp() if written else None
            except ValueError:
                log.warning("node %s: %s=%r is no time", name, INTERRUPTION_DEADLINE, written)
                deadline = None
            if deadline is None:
                deadline = now + notice_s
                at = stamp(datetime.fromtimestamp(deadline, UTC))
                patch = {"metadata": {"annotations": {INTERRUPTION_DEADLINE: at}}}
                await self._client.patch(Node, name, patch)
            noticed.append(InterruptionNotice(name, deadline))
        return noticed

    async def interrupt(self, name: str, notice_s: float = 120.0) -> None:
        """Announce a reclaim of ``name`` in ``notice_s`` seconds (the simulation hook)."""
        patch = {"metadata": {"annotations": {SIMULATED_INTERRUPTION: f"{notice_s:g}"}}}
        await self._client.patch(Node, name, patch)
