"""The mutating admission webhook of batch pods: a pod labelled ``tidewise.io/qos: batch``
has its containers' CPU and memory requests and limits moved onto the batch resources and
runs at the batch PriorityClass (below every online pod's): what ack-koordinator asks its
users to write by hand on ``koordinator.sh/qosClass: BE`` pods (docs/colocation.md cites it).

Why requests equal limits: the batch resources are extended resources, which Kubernetes
never overcommits: a container's request must equal its limit (kubernetes.io/docs/tasks/
configure-pod-container/extended-resource), so the batch figure is the container's request
(its limit when it gives none). A container's CPU and memory limits go with them: on a
kubelet the pod becomes BestEffort and the node's online pods keep precedence for CPU time.

Why the priority is written here: the API server's Priority admission plugin resolves
``priorityClassName`` before mutating webhooks run, so a webhook that sets the class sets
the ``priority`` (and ``preemptionPolicy``) it resolves to as well, read from the
PriorityClass itself so that the class stays the one place to change it.

Idempotent: a pod already mapped comes back unchanged. Refused, with a message naming what
to change: a GPU request (GPUs are never lent to batch pods), a container asking both CPU
and batch CPU (or memory and batch memory), another PriorityClass, a quantity that cannot be
read, a batch PriorityClass that is not installed.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.scheduling_v1 import PriorityClass

from tidewise.kube.api.admission import (
    ServingCertificate,
    admission_application,
    admission_reply,
    serve_https,
)
from tidewise.kube.api.resources import MANAGED_RESOURCES, NVIDIA_GPU
from tidewise.kube.colocation.batch import BatchNames, is_batch
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.model.quantity import QuantityError, quantity

log = logging.getLogger(__name__)

PATH = "/mutate"
GPUS = (NVIDIA_GPU, *MANAGED_RESOURCES)
CONTAINERS = ("initContainers", "containers")


class Unmappable(ValueError):
    """What the pod asks that batch resources cannot give; the message is the refusal."""


def _amount(resources: Mapping[str, Any], name: str, scale: int, where: str) -> int | None:
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    text = requests.get(name, limits.get(name))
    if text is None:
        return None
    try:
        return math.ceil(quantity(text) * scale)
    except QuantityError as error:
        raise Unmappable(f"{where}: {name}: {error}") from None


def mapped_resources(resources: Mapping[str, Any], names: BatchNames, where: str) -> dict[str, Any]:
    """A container's ``resources`` with CPU and memory moved onto the batch resources (the
    same dict when there is nothing to move)."""
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    for gpu in GPUS:
        if gpu in asked:
            raise Unmappable(f"{where}: {gpu}: batch pods get no GPUs; remove the qos label")
    moved = {}
    for native, batch, scale in (("cpu", names.cpu, 1000), ("memory", names.memory, 1)):
        amount = _amount(resources, native, scale, where)
        if amount is None:
            continue
        if batch in asked:
            raise Unmappable(f"{where}: asks both {native} and {batch}; keep one")
        moved[native] = (batch, str(amount))
    if not moved:
        return dict(resources)
    result = copy.deepcopy(dict(resources))
    for section in ("requests", "limits"):
        kept = {k: v for k, v in (result.get(section) or {}).items() if k not in moved}
        result[section] = kept | dict(moved.values())
    return result


def mapping_patch(
    pod: Mapping[str, Any], names: BatchNames, priority: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The JSON Patch that makes ``pod`` a batch pod (empty when it already is one);
    :class:`Unmappable` for what cannot be mapped. ``priority``: the PriorityClass's name,
    value and preemption policy."""
    spec = pod.get("spec") or {}
    patch: list[dict[str, Any]] = []
    for kind in CONTAINERS:
        for index, container in enumerate(spec.get(kind) or []):
            where = f"spec.{kind}[{index}] ({container.get('name', '?')}).resources"
            before = container.get("resources") or {}
            after = mapped_resources(before, names, where)
            if after != before:
                path = f"/spec/{kind}/{index}/resources"
                patch.append({"op": "add", "path": path, "value": after})
    asked = spec.get("priorityClassName")
    if asked not in (None, "", priority["name"]):
        raise Unmappable(
            f"spec.priorityClassName: {asked}: a batch pod runs at {priority['name']}; "
            "remove it or the tidewise.io/qos label"
        )
    wanted = {
        "priorityClassName": priority["name"],
        "priority": priority["value"],
        "preemptionPolicy": priority["preemptionPolicy"],
    }
    for field, value in wanted.items():
        if spec.get(field) != value:
            patch.append({"op": "add", "path": f"/spec/{field}", "value": value})
    return patch


async def batch_priority(client: AsyncClient, name: str) -> dict[str, Any]:
    """The PriorityClass ``name`` as the pod carries it; :class:`Unmappable` when absent."""
    try:
        found = (await client.get(PriorityClass, name)).to_dict()
    except ApiError as error:
        if error.status.code == 404:
            raise Unmappable(
                f"PriorityClass {name} is not installed: apply "
                "deploy/operator/components/colocation"
            ) from None
        raise
    policy = found.get("preemptionPolicy") or "PreemptLowerPriority"
    return {"name": name, "value": found["value"], "preemptionPolicy": policy}


async def review(
    client: AsyncClient, settings: ColocationSettings, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Answer one AdmissionReview of a pod CREATE."""
    request = body.get("request") or {}
    uid = request.get("uid", "")
    pod = request.get("object") or {}
    if request.get("operation") != "CREATE" or not is_batch(pod):
        return admission_reply(uid)
    try:
        priority = await batch_priority(client, settings.priority_class)
        patch = mapping_patch(pod, settings.names, priority)
    except Unmappable as error:
        return admission_reply(uid, refusal=f"tidewise co-location: {error}")
    return admission_reply(uid, patch)


async def serve(client: AsyncClient, settings: ColocationSettings) -> web.AppRunner:
    """Start serving; the caller cleans the runner up."""
    tls = ServingCertificate(settings.cert, settings.key)
    app = admission_application(PATH, lambda body: review(client, settings, body), tls)
    runner = await serve_https(app, settings.host, settings.port, tls)
    log.info("co-location webhook on https://%s:%d%s", settings.host, settings.port, PATH)
    return runner
