"""An ElasticScaler's headroom on a cluster: a Deployment of placeholder pods.

The count comes from the policy (``tidewise.scaling.headroom``); this module gives it a
shape. The placeholders are pause containers asking what the target's containers ask
(requests and limits, so extended resources such as GPUs are asked for as well), with the
target's node selector, affinity and tolerations, so the node autoscaler buys the nodes the
real pods would land on. They run at a PriorityClass below every real pod, which never
preempts (``preemptionPolicy: Never``): real pods preempt them, they never preempt anything
(Kubernetes, "Pod Priority and Preemption"). The Deployment is owned by the ElasticScaler
(``ownerReferences``), so deleting the ElasticScaler has the garbage collector take the
placeholders too; turning the headroom off deletes it at once.

The Deployment is written by server-side apply, and only when what it should be differs from
what the controller last applied (in memory): after a restart the first sync applies it once,
which repairs anything changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.types import PatchType

from tidewise.kube.api.kinds import ELASTIC_API_VERSION, ELASTIC_KIND
from tidewise.kube.controllers.elastic_spec import HeadroomSpec
from tidewise.kube.controllers.resources import TEMPLATED
from tidewise.scaling.cron import ScaleTargetRef

FIELD_MANAGER = "tidewise-elasticscaler"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
HEADROOM_FOR = "tidewise.io/headroom-for"  # the placeholders' label: the ElasticScaler's name
MANAGED_BY = {"app.kubernetes.io/managed-by": "tidewise"}
COPIED_SCHEDULING = ("nodeSelector", "affinity", "tolerations", "topologySpreadConstraints")


def placeholder_name(scaler: str) -> str:
    return f"{scaler}-headroom"


def placeholder_deployment(
    scaler: Mapping[str, Any], template: Mapping[str, Any], count: int, headroom: HeadroomSpec
) -> dict[str, Any]:
    """The placeholder Deployment of ``scaler`` (an ElasticScaler object) holding ``count``
    pods shaped like ``template`` (the target's ``spec.template``)."""
    meta = scaler["metadata"]
    labels = {HEADROOM_FOR: meta["name"]}
    pod = template.get("spec") or {}
    containers = [
        {"name": c["name"], "image": PAUSE_IMAGE, "resources": c.get("resources") or {}}
        for c in pod.get("containers") or []
    ]
    spec: dict[str, Any] = {
        "priorityClassName": headroom.priority_class,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "containers": containers,
    }
    spec |= {key: pod[key] for key in COPIED_SCHEDULING if pod.get(key)}
    owner = {
        "apiVersion": ELASTIC_API_VERSION,
        "kind": ELASTIC_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": placeholder_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": labels | MANAGED_BY,
            "ownerReferences": [owner],
        },
        "spec": {
            "replicas": count,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


@dataclass
class Placeholders:
    """Keeps each ElasticScaler's placeholder Deployment at the count its policy asks."""

    client: AsyncClient
    _applied: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)  # by uid

    def forget(self) -> None:
        self._applied.clear()

    async def template_of(self, target: ScaleTargetRef, namespace: str) -> dict[str, Any]:
        """The target's pod template (``spec.template``)."""
        templated = TEMPLATED[target.kind]
        obj = await self.client.get(templated, target.name, namespace=namespace)
        if obj.spec is None or obj.spec.template is None:  # the API server requires both
            raise ValueError(f"{target.kind} {target.name} has no pod template")
        return obj.spec.template.to_dict()

    async def hold(
        self, scaler: Mapping[str, Any], target: ScaleTargetRef, count: int, spec: HeadroomSpec
    ) -> None:
        """Apply the placeholder Deployment for ``count`` when it differs from the last one."""
        meta = scaler["metadata"]
        template = await self.template_of(target, meta["namespace"])
        wanted = placeholder_deployment(scaler, template, count, spec)
        if self._applied.get(meta["uid"]) == wanted:
            return
        await self.client.patch(
            Deployment,
            wanted["metadata"]["name"],
            wanted,
            namespace=meta["namespace"],
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
        self._applied[meta["uid"]] = wanted

    async def release(self, scaler: Mapping[str, Any]) -> bool:
        """Delete the placeholder Deployment of a scaler whose headroom is off; whether one
        was there."""
        meta = scaler["metadata"]
        self._applied.pop(meta["uid"], None)
        try:
            await self.client.delete(
                Deployment, placeholder_name(meta["name"]), namespace=meta["namespace"]
            )
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
        return True
