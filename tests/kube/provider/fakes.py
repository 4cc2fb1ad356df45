"""An in-memory API server for the provisioner's unit tests: lightkube's ``AsyncClient``
calls the provider, the provisioner and the drain make, over plain dicts, with the answers
the real one gives (404, 409, 429 on a refused eviction) and every write recorded."""

from __future__ import annotations

import asyncio
import copy
import datetime
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status

from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION
from tidewise.model import Offering, PurchaseOption

OPTIONS = frozenset({PurchaseOption.ON_DEMAND, PurchaseOption.SPOT})
TOLERATE = [{"key": FAKE_NODE_ANNOTATION, "operator": "Exists"}]
UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
READY = {"type": "Ready", "status": "True"}


def api_error(code: int, message: str = "") -> ApiError:
    return ApiError(status=Status(code=code, message=message or f"HTTP {code}"))


def offerings(*types: str) -> list[Offering]:
    catalog = load_catalog(
        builtin_catalog_path("aws-us-east-1"), provider="aws", instance_types=list(types)
    )
    return [o for o in catalog.offerings if o.option in OPTIONS]


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _selected(body: dict[str, Any], labels: dict[str, str | None] | None, fields) -> bool:
    have = body.get("metadata", {}).get("labels") or {}
    for key, value in (labels or {}).items():
        if key not in have or (value is not None and have[key] != value):
            return False
    for path, value in (fields or {}).items():
        node: Any = body
        for part in path.split("."):
            node = (node or {}).get(part)
        if node != value:
            return False
    return True


class FakeApi:
    """Objects by kind, then (namespace, name). ``refuse[kind]`` is raised by the next
    creates of that kind; pods named in ``budget_blocks`` are refused eviction (429)."""

    def __init__(self, now: datetime.datetime | None = None) -> None:
        self.objects: dict[str, dict[tuple[str | None, str], dict[str, Any]]] = defaultdict(dict)
        self.refuse: dict[str, Exception] = {}
        self.budget_blocks: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []
        self.now = now or datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    @staticmethod
    def kind(res: Any) -> str:
        info = res._api_info
        return info.resource.kind

    def add(self, kind: str, body: dict[str, Any]) -> None:
        meta = body.setdefault("metadata", {})
        meta.setdefault("creationTimestamp", self.now.isoformat())
        self.objects[kind][(meta.get("namespace"), meta["name"])] = body

    def body(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects[kind].get((namespace, name))

    def names(self, kind: str) -> set[str]:
        return {name for _, name in self.objects[kind]}

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        told = self.objects["Event"].values()
        return [e for e in told if reason is None or e["reason"] == reason]

    async def list(
        self, res: Any, namespace: str | None = None, labels=None, fields=None, **_: Any
    ) -> AsyncIterator[Any]:
        kind = self.kind(res)
        self.calls.append(("list", kind, ""))
        for (where, _), body in list(self.objects[kind].items()):
            if namespace not in (None, "*") and where != namespace:
                continue
            if _selected(body, labels, fields):
                yield res.from_dict(copy.deepcopy(body))

    async def get(self, res: Any, name: str, namespace: str | None = None) -> Any:
        body = self.body(self.kind(res), name, namespace)
        if body is None:
            raise api_error(404, f"{name} not found")
        return res.from_dict(copy.deepcopy(body))

    async def create(self, obj: Any, name: str | None = None, namespace: str | None = None):
        kind = self.kind(type(obj))
        if type(obj)._api_info.action == "eviction":
            return self._evict(name, namespace)
        if kind in self.refuse:
            raise self.refuse[kind]
        body = obj.to_dict()
        meta = body["metadata"]
        key = (meta.get("namespace") or namespace, meta["name"])
        if key in self.objects[kind]:
            raise api_error(409, f"{meta['name']} already exists")
        self.calls.append(("create", kind, meta["name"]))
        self.add(kind, body)
        return obj

    def _evict(self, name: str | None, namespace: str | None) -> None:
        assert name is not None
        self.calls.append(("evict", "Pod", name))
        if (namespace, name) not in self.objects["Pod"]:
            raise api_error(404)
        if name in self.budget_blocks:
            raise api_error(429, "Cannot evict pod as it would violate the disruption budget.")
        del self.objects["Pod"][(namespace, name)]

    async def patch(self, res: Any, name: str, patch: dict, namespace: str | None = None, **_):
        kind = self.kind(res)
        body = self.body(kind, name, namespace)
        if body is None:
            raise api_error(404, f"{name} not found")
        self.calls.append(("patch", kind, name))
        _merge(body, patch)
        return res.from_dict(copy.deepcopy(body))

    async def delete(self, res: Any, name: str, namespace: str | None = None, **_: Any) -> None:
        kind = self.kind(res)
        if (namespace, name) not in self.objects[kind]:
            raise api_error(404, f"{name} not found")
        self.calls.append(("delete", kind, name))
        del self.objects[kind][(namespace, name)]

    async def replace(self, obj: Any) -> Any:
        kind = self.kind(type(obj))
        body = obj.to_dict()
        self.calls.append(("replace", kind, body["metadata"]["name"]))
        self.add(kind, body)
        return obj

    async def watch(self, res: Any, **_: Any) -> AsyncIterator[tuple[str, Any]]:
        if False:  # pragma: no cover - the provisioner's rounds are driven by hand here
            yield


def pending_pod(name: str, cpu: str = "600m", namespace: str = "ns") -> dict[str, Any]:
    """A pod the scheduler found no node for, owned by a ReplicaSet, tolerating kwok."""
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1"}
    owner["controller"] = True
    return {
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
        "spec": {
            "tolerations": TOLERATE,
            "containers": [{"name": "main", "resources": {"requests": {"cpu": cpu}}}],
        },
        "status": {"phase": "Pending", "conditions": [UNSCHEDULABLE]},
    }


def bound_pod(name: str, node: str, cpu: str = "600m", namespace: str = "ns", **meta: Any):
    """A running pod on ``node``; ``meta`` adds to its metadata (annotations, owners)."""
    body = pending_pod(name, cpu, namespace)
    body["spec"]["nodeName"] = node
    body["status"] = {"phase": "Running", "conditions": [READY]}
    body["metadata"].update(meta)
    return body


def ready(api: FakeApi, names: Sequence[str] | None = None) -> None:
    """What kwok does for a registered Node: marks it Ready."""
    for (_, name), body in api.objects["Node"].items():
        if names is None or name in names:
            body.setdefault("status", {})["conditions"] = [dict(READY)]


class Clock:
    """Unix seconds that the test moves by hand."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


async def settle() -> None:
    """Let the tasks the provisioner and the provider started (boots, drains) run."""
    for _ in range(10):
        await asyncio.sleep(0)
