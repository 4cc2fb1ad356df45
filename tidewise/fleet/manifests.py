"""What is copied from one cluster to another: object identity, selection and the fields the
source's API server wrote, which must not travel (a copied ``uid`` or ``clusterIP`` is refused
or, worse, accepted and wrong)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]

# Objects every namespace gets from its controllers: copying them would fight those controllers
CONTROLLER_MADE = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
# annotations and labels the source's controllers wrote; on the target they would lie
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
)
SERVER_LABELS = ("kubernetes.io/metadata.name",)
# a Job's selector and the labels that match it are derived from its uid by the API server
JOB_LABELS = (
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
)


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One object by kind, namespace ("" when cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


def ref_of(manifest: Mapping[str, Any]) -> ObjectRef:
    meta = manifest.get("metadata") or {}
    return ObjectRef(manifest["kind"], meta.get("namespace") or "", meta["name"])


@dataclass(frozen=True)
class Selection:
    """Which source objects to copy: in these namespaces (all when empty), with all of these
    labels, of these kinds (all listed ones when empty)."""

    namespaces: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()

    def matches(self, manifest: Mapping[str, Any]) -> bool:
        ref = ref_of(manifest)
        if self.kinds and ref.kind not in self.kinds:
            return False
        # a Namespace is selected by its own name; other cluster-scoped objects (CRDs,
        # ClusterRoles) only come when their kind is asked for, so no namespace filters them
        home = ref.name if ref.kind == "Namespace" else ref.namespace
        if self.namespaces and home and home not in self.namespaces:
            return False
        if ref.kind == "Namespace" and self.labels:
            return True  # the namespace is the home of what matched, not a workload to match
        labels = (manifest.get("metadata") or {}).get("labels") or {}
        return all(labels.get(key) == value for key, value in self.labels.items())


def copyable(manifest: Mapping[str, Any]) -> bool:
    """False for what the source's controllers made and the target's will make again."""
    meta = manifest.get("metadata") or {}
    if meta.get("ownerReferences"):
        return False  # Pods, ReplicaSets, Endpoints...: their owner is copied instead
    if (manifest["kind"], meta.get("name")) in CONTROLLER_MADE:
        return False
    return not (manifest["kind"] == "Secret" and manifest.get("type") == SERVICE_ACCOUNT_TOKEN)


def select(manifests: Iterable[Mapping[str, Any]], selection: Selection) -> list[Manifest]:
    """The copyable manifests the selection matches, without their server-written fields."""
    return [strip_server_fields(m) for m in manifests if copyable(m) and selection.matches(m)]


def strip_server_fields(manifest: Mapping[str, Any]) -> Manifest:
    """A copy fit to apply elsewhere: no status, no identity or bookkeeping of the source."""
    clean = copy.deepcopy(dict(manifest))
    clean.pop("status", None)
    meta = clean.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    _drop_keys(meta, "annotations", SERVER_ANNOTATIONS)
    _drop_keys(meta, "labels", SERVER_LABELS)
    spec = clean.get("spec")
    if not isinstance(spec, dict):
        return clean
    kind = clean["kind"]
    if kind == "Service":
        for key in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
            spec.pop(key, None)
    elif kind == "PersistentVolumeClaim":
        spec.pop("volumeName", None)  # the source's PV; the target binds its own
    elif kind == "Job" and not spec.get("manualSelector"):
        spec.pop("selector", None)
        _drop_keys(spec.get("template", {}).get("metadata", {}), "labels", JOB_LABELS)
    elif kind == "PersistentVolume":
        spec.pop("claimRef", None)
    return clean


def _drop_keys(holder: dict[str, Any], key: str, names: Iterable[str]) -> None:
    values = holder.get(key)
    if not isinstance(values, dict):
        return
    for name in names:
        values.pop(name, None)
    if not values:
        holder.pop(key)
