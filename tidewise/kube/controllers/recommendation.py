"""The ResourceRecommendation controller: right-sized requests per container, in ``status``.

Every ``period_s`` (VPA's recommender runs every minute) and for each object: list the
target's pods, read each container's CPU and memory use (metrics.k8s.io, or Prometheus with
cAdvisor's series), feed the VPA recommender (``tidewise.scaling.rightsizing``) and write
its target and bounds per container to ``status``, VPA's shape. History is kept in memory
per object: a restarted operator (or a new leader) starts again with low confidence, as a VPA
recommender without its checkpoints.

``updateMode: OnRollout`` applies the recommendation on the workload's next rollout and never
causes one itself: when someone else changes the pod template (the Deployment's generation
moves), the controller writes the recommended requests into that new template; the rollout in
progress then rolls over to pods with them. Limits are left alone.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResourceG
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from tidewise.kube.api.events import tell
from tidewise.kube.api.loop import reconcile_all
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.status import set_condition, stamp
from tidewise.kube.controllers import COMPONENT
from tidewise.kube.controllers.pods import milli
from tidewise.kube.controllers.prometheus import EndpointRefused, Prometheus, PrometheusError
from tidewise.kube.controllers.resources import PodMetrics, ResourceRecommendationResource
from tidewise.scaling.rightsizing import (
    ContainerKey,
    ContainerPolicy,
    Estimate,
    Recommendation,
    ResourceRecommender,
)

log = logging.getLogger(__name__)

NAME = "resourcerecommendation"
NOT_ALLOWED = "PrometheusNotAllowed"
TARGETS: dict[str, type[NamespacedResourceG]] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
}
# cAdvisor's series as the kubelet exposes them; $namespace and $pods are filled in
CPU_QUERY = (
    'sum by (pod, container) (rate(container_cpu_usage_seconds_total{namespace="$namespace", '
    'pod=~"$pods", container!="", container!="POD"}[1m]))'
)
MEMORY_QUERY = (
    'sum by (pod, container) (container_memory_working_set_bytes{namespace="$namespace", '
    'pod=~"$pods", container!="", container!="POD"})'
)
APPLY_TOLERANCE = 0.1  # OnRollout leaves a request within 10 % of the target as it is


class SpecError(ValueError):
    """A field of the object that cannot be used; the message starts with its path."""


@dataclass(frozen=True)
class RecommendationSpec:
    kind: type[NamespacedResourceG]
    target: str
    on_rollout: bool
    policies: Mapping[str, ContainerPolicy]
    prometheus: Mapping[str, str] | None


def _quantity(where: str, value: object, unit: str) -> int:
    try:
        amount = milli(value)
    except (ValueError, ArithmeticError):
        raise SpecError(f"{where}: {value!r} is not a quantity, e.g. 250m or 512Mi") from None
    return amount if unit == "cpu" else math.ceil(amount / 1000 / 2**20)


def read_spec(obj: Mapping[str, Any]) -> RecommendationSpec:
    spec = obj.get("spec") or {}
    ref = spec.get("targetRef") or {}
    kind = TARGETS.get(str(ref.get("kind")))
    if kind is None:
        raise SpecError(f"spec.targetRef.kind: {ref.get('kind')!r}; Deployment or StatefulSet")
    if not ref.get("name"):
        raise SpecError("spec.targetRef.name: the workload's name is required")
    policies = {}
    for i, entry in enumerate(spec.get("containerPolicies") or []):
        where = f"spec.containerPolicies[{i}]"
        low, high = entry.get("minAllowed") or {}, entry.get("maxAllowed") or {}

        def bound(side: Mapping[str, Any], name: str, unit: str, at: str) -> int | None:
            return _quantity(f"{at}.{name}", side[name], unit) if name in side else None

        try:
            policies[entry["containerName"]] = ContainerPolicy(
                bound(low, "cpu", "cpu", f"{where}.minAllowed"),
                bound(high, "cpu", "cpu", f"{where}.maxAllowed"),
                bound(low, "memory", "memory", f"{where}.minAllowed"),
                bound(high, "memory", "memory", f"{where}.maxAllowed"),
            )
        except ValueError as error:
            if isinstance(error, SpecError):
                raise
            raise SpecError(f"{where}: {error}") from None
    prometheus = spec.get("prometheus")
    if prometheus is not None and not isinstance(prometheus, dict):
        raise SpecError("spec.prometheus: a mapping, e.g. {endpoint: team-a}")
    mode = spec.get("updateMode", "Off")
    if mode not in ("Off", "OnRollout"):
        raise SpecError(f"spec.updateMode: {mode!r}; Off or OnRollout")
    return RecommendationSpec(kind, ref["name"], mode == "OnRollout", policies, prometheus)


def cpu_text(milli_cpu: int) -> str:
    return f"{milli_cpu}m"


def memory_text(mib: int) -> str:
    return f"{mib}Mi"


def estimate_status(recommendation: Recommendation) -> dict[str, Any]:
    def side(cpu: int | None, memory: int | None) -> dict[str, str] | None:
        if cpu is None or memory is None:
            return None
        return {"cpu": cpu_text(cpu), "memory": memory_text(memory)}

    cpu: Estimate = recommendation.cpu_milli
    memory: Estimate = recommendation.memory_mib
    found = {
        "target": side(cpu.target, memory.target),
        "lowerBound": side(cpu.lower, memory.lower),
        "upperBound": side(cpu.upper, memory.upper),  # absent while there is too little history
    }
    return {key: value for key, value in found.items() if value is not None}


def _containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    template = (workload.get("spec") or {}).get("template") or {}
    return list((template.get("spec") or {}).get("containers") or [])


def needs_update(container: Mapping[str, Any], target: Mapping[str, str]) -> bool:
    """Whether the container's requests are more than ``APPLY_TOLERANCE`` off ``target``."""
    requests = (container.get("resources") or {}).get("requests") or {}
    for name in ("cpu", "memory"):
        if name not in requests:
            return True
        have, want = milli(requests[name]), milli(target[name])
        if abs(have - want) > APPLY_TOLERANCE * want:
            return True
    return False


@dataclass
class Tracked:
    fingerprint: str
    recommender: ResourceRecommender = field(default_factory=ResourceRecommender)
    refused: bool = False  # its Prometheus is not allowed, and the Event said so


@dataclass
class RecommendationController:
    client: AsyncClient
    metrics: ControllerMetrics
    prometheus: Prometheus
    period_s: float = 60.0
    clock: Callable[[], float] = time.time
    name: str = NAME

    def __post_init__(self) -> None:
        self._tracked: dict[str, Tracked] = {}

    def forget(self) -> None:
        self._tracked.clear()

    async def sync(self) -> float:
        await reconcile_all(
            NAME,
            ResourceRecommendationResource,
            self.client,
            self.metrics,
            self._tracked,
            self.reconcile,
        )
        return self.period_s

    async def reconcile(self, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], dict(obj.get("status") or {})
        now = self.clock()
        at = stamp(datetime.fromtimestamp(now, UTC))
        conditions = list(status.get("conditions") or [])
        try:
            spec = read_spec(obj)
        except SpecError as error:
            conditions = set_condition(conditions, "Ready", False, "InvalidSpec", str(error), at)
            await self._write(obj, {"conditions": conditions})
            return
        fingerprint = json.dumps(obj.get("spec") or {}, sort_keys=True)
        tracked = self._tracked.get(meta["uid"])
        if tracked is None or tracked.fingerprint != fingerprint:
            tracked = self._tracked[meta["uid"]] = Tracked(fingerprint)
        namespace = meta["namespace"]
        try:
            found = await self.client.get(spec.kind, spec.target, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            message = f"spec.targetRef: no {spec.kind.__name__} {spec.target!r} in {namespace}"
            conditions = set_condition(conditions, "Ready", False, "TargetNotFound", message, at)
            await self._write(obj, {"conditions": conditions})
            return
        # lightkube types what get returns as the base class, which does not declare to_dict;
        # every kind it returns has it
        workload = found.to_dict()  # type: ignore[attr-defined]
        selector = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = [
            p.metadata.name
            async for p in self.client.list(Pod, namespace=namespace, labels=selector)
            if p.metadata is not None and p.metadata.name is not None
        ]
        conditions = set_condition(conditions, "Ready", True, "TargetFound", spec.target, at)
        try:
            url = None if spec.prometheus is None else self.prometheus.resolve(spec.prometheus)
            usage = await self._usage(spec, url, namespace, pods)
        except EndpointRefused as error:  # nothing was asked: say so once, on the object
            conditions = set_condition(
                conditions, "UsageAvailable", False, NOT_ALLOWED, str(error), at
            )
            if not tracked.refused:
                tracked.refused = True
                self.metrics.errors.labels(controller=NAME, reason=NOT_ALLOWED).inc()
                await tell(
                    self.client, obj, NOT_ALLOWED, str(error), component=COMPONENT, warning=True
                )
            await self._write(obj, {"conditions": conditions})
            return
        except PrometheusError as error:
            conditions = set_condition(
                conditions, "UsageAvailable", False, "PrometheusError", str(error), at
            )
            await self._write(obj, {"conditions": conditions})
            return
        workload_key = f"{namespace}/{spec.target}"
        for (pod, container_name), (cpu, memory) in usage.items():
            key = ContainerKey(workload_key, container_name)
            tracked.recommender.add_usage(key, now, cpu, memory, pod=pod)
        conditions = set_condition(
            conditions,
            "UsageAvailable",
            bool(usage),
            "Sampled" if usage else "NoUsage",
            f"{len(usage)} containers sampled" if usage else "no usage yet for the target's pods",
            at,
        )
        recommendations = []
        confidence = 0.0
        for container in _containers(workload):
            key = ContainerKey(workload_key, container["name"])
            try:
                recommended = tracked.recommender.recommend(
                    key, now, spec.policies.get(container["name"])
                )
            except KeyError:
                continue
            confidence = max(confidence, recommended.confidence)
            recommendations.append(
                {"containerName": container["name"], **estimate_status(recommended)}
            )
        provided = bool(recommendations)
        message = f"{len(recommendations)} containers" if provided else "waiting for usage"
        conditions = set_condition(
            conditions,
            "RecommendationProvided",
            provided,
            "Recommended" if provided else "NoHistory",
            message,
            at,
        )
        update = {
            "recommendation": {"containerRecommendations": recommendations},
            "confidence": round(confidence, 3),
            "lastSampleTime": at,
            "conditions": conditions,
        }
        if spec.on_rollout and provided:
            update["appliedGeneration"] = await self._apply_on_rollout(
                obj, spec, workload, status, recommendations
            )
        await self._write(obj, update)

    async def _usage(
        self, spec: RecommendationSpec, url: str | None, namespace: str, pods: list[str]
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """(pod, container) -> (CPU millicores, memory MiB) now."""
        if not pods:
            return {}
        if spec.prometheus is None:
            usage: dict[tuple[str, str], tuple[float, float]] = {}
            async for item in self.client.list(PodMetrics, namespace=namespace):
                raw = item.to_dict()
                if raw["metadata"]["name"] not in pods:
                    continue
                for c in raw.get("containers") or []:
                    cpu = milli(c["usage"].get("cpu", "0"))
                    memory = milli(c["usage"].get("memory", "0")) / 1000 / 2**20
                    usage[raw["metadata"]["name"], c["name"]] = (cpu, memory)
            return usage
        fill = {"$namespace": namespace, "$pods": "|".join(pods)}

        def query(text: str) -> str:
            for key, value in fill.items():
                text = text.replace(key, value)
            return text

        cpu_cores = await self.prometheus.vector(
            query(spec.prometheus.get("cpuQuery") or CPU_QUERY), url
        )
        memory_bytes = await self.prometheus.vector(
            query(spec.prometheus.get("memoryQuery") or MEMORY_QUERY), url
        )
        mib = {(m["pod"], m["container"]): v / 2**20 for m, v in memory_bytes}
        return {
            (m["pod"], m["container"]): (v * 1000, mib[m["pod"], m["container"]])
            for m, v in cpu_cores
            if (m.get("pod"), m.get("container")) in mib
        }

    async def _apply_on_rollout(
        self,
        recommendation: Mapping[str, Any],
        spec: RecommendationSpec,
        workload: dict[str, Any],
        status: Mapping[str, Any],
        recommendations: list[dict[str, Any]],
    ) -> int:
        """Write the targets into the template when someone else started a rollout since the
        generation last seen (the first time: only remember it). Returns the generation seen."""
        generation = int(workload["metadata"].get("generation", 0))
        seen = status.get("appliedGeneration")
        if seen is None or generation <= int(seen):
            return generation if seen is None else int(seen)
        targets = {r["containerName"]: r["target"] for r in recommendations}
        changed = [
            {"name": c["name"], "resources": {"requests": targets[c["name"]]}}
            for c in _containers(workload)
            if c["name"] in targets and needs_update(c, targets[c["name"]])
        ]
        if not changed:
            return generation
        meta = workload["metadata"]
        patch = {"spec": {"template": {"spec": {"containers": changed}}}}
        await self.client.patch(spec.kind, meta["name"], patch, namespace=meta["namespace"])
        self.metrics.decisions.labels(controller=NAME, rule="on-rollout").inc()
        names = ", ".join(c["name"] for c in changed)
        message = f"requests of {names} set on {spec.kind.__name__} {meta['name']}'s rollout"
        await tell(self.client, recommendation, "RequestsApplied", message, component=COMPONENT)
        log.info("%s %s/%s: requests set on its rollout", NAME, meta["namespace"], meta["name"])
        return generation + 1  # our own template change is not a rollout to follow

    async def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        await self.client.patch(
            ResourceRecommendationResource.Status,
            meta["name"],
            {"status": status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
