"""Reading what to replicate from a cluster, and finding the lightkube resource for a kind.

Built-in kinds come from lightkube's typed resources; any other kind is looked up among the
cluster's CustomResourceDefinitions and served as a generic resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from lightkube import ALL_NS, Client
from lightkube.codecs import resource_registry
from lightkube.core.client import LabelSelector
from lightkube.core.exceptions import LoadResourceError
from lightkube.core.resource import GlobalResource, NamespacedResource, Resource
from lightkube.generic_resource import load_in_cluster_generic_resources
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import DaemonSet, Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import (
    ConfigMap,
    Namespace,
    PersistentVolume,
    PersistentVolumeClaim,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.rbac_authorization_v1 import (
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)
from lightkube.resources.storage_v1 import StorageClass

from tidewise.fleet.manifests import Manifest, Selection

# what a plan copies when no --kinds is given: an application's namespaced objects
DEFAULT_KINDS: tuple[type[Resource], ...] = (
    Namespace,
    ServiceAccount,
    Role,
    RoleBinding,
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
    Service,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
)
# cluster-wide kinds, copied only when --kinds names them
CLUSTER_KINDS: tuple[type[Resource], ...] = (
    CustomResourceDefinition,
    StorageClass,
    PersistentVolume,
    ClusterRole,
    ClusterRoleBinding,
)
BUILT_IN = {r._api_info.resource.kind: r for r in (*DEFAULT_KINDS, *CLUSTER_KINDS)}


class UnknownKind(LookupError):
    """A kind neither built in nor defined by a CRD of the cluster."""


def resource_for_kind(client: Client, kind: str) -> type[Resource]:
    """The resource class of ``kind`` (``Cache`` or ``Cache.example.com``) on this cluster."""
    if kind in BUILT_IN:
        return BUILT_IN[kind]
    name, _, group = kind.partition(".")
    for crd in client.list(CustomResourceDefinition):
        spec = crd.spec
        if spec.names.kind == name and (not group or spec.group == group):
            version = next(v.name for v in spec.versions if v.storage)
            load_in_cluster_generic_resources(client)
            return resource_registry.load(f"{spec.group}/{version}", name)
    known = ", ".join(sorted(BUILT_IN))
    raise UnknownKind(
        f"--kinds: {kind!r} is neither built in ({known}) nor defined by a CRD of the source"
    )


def resource_for_manifest(client: Client, manifest: Manifest) -> type[Resource]:
    """The resource class to apply ``manifest`` with; CRs are looked up on ``client``'s
    cluster the first time (their CRD may have been applied a step earlier)."""
    try:
        return resource_registry.load(manifest["apiVersion"], manifest["kind"])
    except (LoadResourceError, ModuleNotFoundError):
        load_in_cluster_generic_resources(client)
        return resource_registry.load(manifest["apiVersion"], manifest["kind"])


def to_manifest(resource: type[Resource], obj: Any) -> Manifest:
    """A lightkube object as the dict the API server sent (list items lack apiVersion/kind)."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    info = resource._api_info.resource
    data.setdefault("apiVersion", info.api_version)
    data.setdefault("kind", info.kind)
    return data


def read_selection(client: Client, selection: Selection) -> Iterator[Manifest]:
    """Every object of the selection's kinds in its namespaces (label filtering and cleaning
    are the plan's: ``tidewise.fleet.manifests.select``)."""
    kinds = (
        [resource_for_kind(client, kind) for kind in selection.kinds]
        if selection.kinds
        else list(DEFAULT_KINDS)
    )
    labels: LabelSelector | None = {**selection.labels} or None
    for resource in kinds:
        if resource is Namespace:
            for namespace_object in client.list(Namespace):
                yield to_manifest(resource, namespace_object)
        elif issubclass(resource, NamespacedResource):
            for namespace in selection.namespaces or (ALL_NS,):
                for obj in client.list(resource, namespace=namespace, labels=labels):
                    yield to_manifest(resource, obj)
        else:  # not namespaced: a cluster-wide kind
            for cluster_object in client.list(cast(type[GlobalResource], resource), labels=labels):
                yield to_manifest(resource, cluster_object)
