"""Reading and writing what an autoscaler scales: a ``/scale`` subresource or an HPA's range.

Writes are skipped when the value is already there, so a controller restarted after acting
(but before recording it) repeats nothing that shows: the second write would change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.types import PatchType

from tidewise.kube.controllers.resources import scalable
from tidewise.scaling.cron import HpaBounds, ScaleTargetRef, apply_to_hpa


@dataclass(frozen=True)
class ScaleState:
    replicas: int  # spec.replicas
    selector: str | None  # status.selector: the label selector of the target's pods
    mode: str | None = None  # a KServe InferenceService's deployment mode (kserve.py)
    ceiling: int | None = None  # the upper bound written beside a floor
    floor_only: bool = False  # ``replicas`` is a floor under another autoscaler (Knative)


@dataclass
class Targets:
    client: AsyncClient

    async def read(self, ref: ScaleTargetRef, namespace: str) -> ScaleState:
        target_scale = scalable(ref).Scale
        scale = await self.client.get(target_scale, ref.name, namespace=namespace)
        return ScaleState(scale.spec.replicas or 0, scale.status.selector if scale.status else None)

    async def scale(self, ref: ScaleTargetRef, namespace: str, replicas: int) -> int:
        """Set ``spec.replicas``; the count before (equal: nothing was written)."""
        before = (await self.read(ref, namespace)).replicas
        if before != replicas:
            target_scale = scalable(ref).Scale
            body: dict[str, Any] = {"spec": {"replicas": replicas}}
            await self.client.patch(
                target_scale, ref.name, body, namespace=namespace, patch_type=PatchType.MERGE
            )
        return before

    async def raise_hpa_floor(self, name: str, namespace: str, size: int) -> tuple[HpaBounds, bool]:
        """The CronHPA rule for an HPA target (``apply_to_hpa``): move its range so ``size``
        is its floor and scale its target up to it at once; whether anything changed."""
        hpa = await self.client.get(HorizontalPodAutoscaler, name, namespace=namespace)
        low, high = hpa.spec.minReplicas or 1, hpa.spec.maxReplicas
        current = (hpa.status.currentReplicas if hpa.status else None) or 0
        bounds = apply_to_hpa(size, low, high, current)
        changed = False
        if (bounds.min_replicas, bounds.max_replicas) != (low, high):
            body = {
                "spec": {"minReplicas": bounds.min_replicas, "maxReplicas": bounds.max_replicas}
            }
            await self.client.patch(
                HorizontalPodAutoscaler, name, body, namespace=namespace, patch_type=PatchType.MERGE
            )
            changed = True
        if bounds.scale_to is not None:
            ref = hpa.spec.scaleTargetRef
            target = ScaleTargetRef(ref.apiVersion or "", ref.kind, ref.name)
            changed = (
                await self.scale(target, namespace, bounds.scale_to) != bounds.scale_to or changed
            )
        return bounds, changed
