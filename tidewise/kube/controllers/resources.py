"""The API objects the controllers read and write, and a scale target's ``/scale``.

The custom resources are lightkube generic resources (their CRDs live in deploy/crds).
A scale target is named by ``apiVersion``, ``kind`` and ``name``; its ``/scale`` subresource
is what every autoscaler writes, so any kind that has one can be scaled. The built-in kinds
are matched on group and kind, whatever the version (CronHPA manifests in the wild still say
``apps/v1beta2``, which no current API server serves); any other kind is taken to be a
custom resource whose plural is its lower-cased kind plus ``s``.
"""

from __future__ import annotations

from typing import Any

from lightkube.core.resource import NamespacedResourceG
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import ReplicationController

from tidewise.kube.api.kinds import ELASTIC_GROUP, ELASTIC_VERSION

# the ElasticScaler resource, defined in the runtime layer (capture reads it too), is still
# imported from here by the ElasticScaler controller
from tidewise.scaling.cron import ScaleTargetRef

RECOMMENDATION_KIND = "ResourceRecommendation"
ResourceRecommendationResource = create_namespaced_resource(
    ELASTIC_GROUP, ELASTIC_VERSION, RECOMMENDATION_KIND, "resourcerecommendations"
)
# metrics-server's per-pod usage (metrics.k8s.io), read by ElasticScaler and ResourceRecommendation
PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")

BUILTIN_SCALABLE: dict[tuple[str, str], type[NamespacedResourceG]] = {
    ("apps", "Deployment"): Deployment,
    ("apps", "StatefulSet"): StatefulSet,
    ("apps", "ReplicaSet"): ReplicaSet,
    ("", "ReplicationController"): ReplicationController,
}

TEMPLATED: dict[str, type[Deployment | StatefulSet | ReplicaSet]] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
    "ReplicaSet": ReplicaSet,
}
"""The ``apps`` kinds with a pod template, which an ElasticScaler's headroom copies."""


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def scalable(ref: ScaleTargetRef) -> Any:
    """The resource class whose ``.Scale`` is ``ref``'s ``/scale`` subresource."""
    builtin = BUILTIN_SCALABLE.get((group_of(ref.api_version), ref.kind))
    if builtin is not None:
        return builtin
    group, _, version = ref.api_version.rpartition("/")
    return create_namespaced_resource(group, version, ref.kind, ref.kind.lower() + "s")


def target_ref(raw: object, where: str) -> ScaleTargetRef:
    """``spec.scaleTargetRef`` read from an object, with a field-naming error."""
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(k), str) and raw.get(k) for k in ("apiVersion", "kind", "name")
    ):
        raise ValueError(f"{where}: needs apiVersion, kind and name")
    return ScaleTargetRef(raw["apiVersion"], raw["kind"], raw["name"])
