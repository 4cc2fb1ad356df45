"""An in-memory stand-in for lightkube's AsyncClient, for the controllers' unit tests: the
objects are plain dicts, every write is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status
from prometheus_client import CollectorRegistry

from tidewise.kube.api.metrics import ControllerMetrics


class Wrapped(dict):
    def to_dict(self) -> dict:
        return self


def not_found(what: str) -> ApiError:
    return ApiError(status=Status(code=404, message=f"{what} not found"))


@dataclass
class FakeClient:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by kind
    replicas: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, name)
    hpas: dict[str, dict[str, Any]] = field(default_factory=dict)
    selectors: dict[str, str] = field(default_factory=dict)  # a target's /scale selector
    writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)

    @staticmethod
    def kind(res: Any) -> str:
        info = res._api_info
        if info.action == "scale":
            return "Scale"
        return info.resource.kind + ("Status" if info.action == "status" else "")

    async def list(self, res: Any, **_: Any) -> AsyncIterator[Wrapped]:
        kind = self.kind(res)
        if kind not in self.objects and kind == "PodMetrics":
            raise not_found("the server could not find the requested resource; metrics.k8s.io")
        for obj in self.objects.get(kind, []):
            yield Wrapped(obj)

    async def get(self, res: Any, name: str, namespace: str | None = None) -> Any:
        if self.kind(res) == "InferenceService":  # a generic resource: its dict
            found = [
                o for o in self.objects.get("InferenceService", []) if o["metadata"]["name"] == name
            ]
            if not found:
                raise not_found(name)
            return Wrapped(found[0])
        if self.kind(res) in ("Deployment", "StatefulSet"):  # a workload, as lightkube reads it
            found = [
                o for o in self.objects.get(self.kind(res), []) if o["metadata"]["name"] == name
            ]
            if not found:
                raise not_found(name)
            return res.from_dict(found[0])
        if self.kind(res) == "Scale":
            key = (res._api_info.parent.kind, name)
            if key not in self.replicas:
                raise not_found(name)
            spec = SimpleNamespace(replicas=self.replicas[key])
            return SimpleNamespace(
                spec=spec, status=SimpleNamespace(selector=self.selectors.get(name))
            )
        hpa = self.hpas[name]
        ref = SimpleNamespace(apiVersion="apps/v1", kind="Deployment", name=hpa["target"])
        spec = SimpleNamespace(minReplicas=hpa["min"], maxReplicas=hpa["max"], scaleTargetRef=ref)
        current = self.replicas[("Deployment", hpa["target"])]
        return SimpleNamespace(spec=spec, status=SimpleNamespace(currentReplicas=current))

    async def patch(self, res: Any, name: str, body: dict, **_: Any) -> None:
        kind = self.kind(res)
        self.writes.append((kind, name, body))
        if kind == "Scale":
            self.replicas[(res._api_info.parent.kind, name)] = body["spec"]["replicas"]
        elif kind == "Deployment":  # a server-side apply of the whole object
            kept = [o for o in self.objects.get(kind, []) if o["metadata"]["name"] != name]
            self.objects[kind] = [*kept, body]
        elif kind == "InferenceService":  # a merge patch of the predictor's range
            obj = next(o for o in self.objects[kind] if o["metadata"]["name"] == name)
            obj.setdefault("spec", {}).setdefault("predictor", {}).update(body["spec"]["predictor"])
        elif kind == "HorizontalPodAutoscaler":
            self.hpas[name]["min"] = body["spec"]["minReplicas"]
            self.hpas[name]["max"] = body["spec"]["maxReplicas"]
        else:  # a status: merge it into the stored object
            owner = kind.removesuffix("Status")
            obj = next(o for o in self.objects[owner] if o["metadata"]["name"] == name)
            obj.setdefault("status", {}).update(body["status"])

    async def delete(self, res: Any, name: str, **_: Any) -> None:
        kind = self.kind(res)
        kept = [o for o in self.objects.get(kind, []) if o["metadata"]["name"] != name]
        if len(kept) == len(self.objects.get(kind, [])):
            raise not_found(name)
        self.writes.append((kind, name, {"deleted": True}))
        self.objects[kind] = kept

    async def create(self, obj: Any) -> None:  # Events: what a controller told
        self.events.append((obj.reason, obj.message))

    def scale_writes(self) -> list[tuple[str, int]]:
        return [(n, b["spec"]["replicas"]) for k, n, b in self.writes if k == "Scale"]


def fresh_metrics() -> ControllerMetrics:
    return ControllerMetrics(CollectorRegistry())
