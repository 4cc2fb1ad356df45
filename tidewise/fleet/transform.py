"""Per-target changes to what is copied (Karmada's OverridePolicy, Velero's mapping ConfigMaps):
another namespace, another image registry, another storage class, fewer or more replicas."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tidewise.fleet.manifests import Manifest, ObjectRef, ref_of

POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet"}
KEYS = {"namespaces", "images", "storageClasses", "replicas"}


class TransformError(ValueError):
    """A transform file that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Transform:
    """What changes on the way to one target.

    ``images`` maps a registry prefix to its replacement (the longest matching prefix wins);
    ``replicas`` is keyed by ``Kind/name`` or ``Kind/namespace/name`` as named on the source.
    """

    namespaces: Mapping[str, str] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    storage_classes: Mapping[str, str] = field(default_factory=dict)
    replicas: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transform:
        """From a transform file's content (YAML or JSON, keys as in docs/fleet.md)."""
        if not isinstance(data, Mapping):
            raise TransformError("the transform file must hold a mapping, e.g. 'namespaces: {}'")
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise TransformError(f"{unknown[0]}: unknown key; use one of {', '.join(sorted(KEYS))}")
        maps = {key: _string_map(data, key) for key in ("namespaces", "images", "storageClasses")}
        replicas = data.get("replicas") or {}
        if not isinstance(replicas, Mapping):
            raise TransformError(
                "replicas: a mapping of Kind/name to a count, e.g. Deployment/api: 2"
            )
        for key, count in replicas.items():
            if key.split("/")[0] not in SCALABLE or len(key.split("/")) not in (2, 3):
                raise TransformError(
                    f"replicas.{key}: name a Deployment, StatefulSet or ReplicaSet as Kind/name"
                )
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise TransformError(f"replicas.{key}: a whole number >= 0 (got {count!r})")
        return cls(maps["namespaces"], maps["images"], maps["storageClasses"], dict(replicas))

    def namespace(self, name: str) -> str:
        return self.namespaces.get(name, name)

    def target_ref(self, ref: ObjectRef) -> ObjectRef:
        """Where a source object lands on the target."""
        if ref.kind == "Namespace":
            return ObjectRef(ref.kind, "", self.namespace(ref.name))
        return ObjectRef(ref.kind, self.namespace(ref.namespace) if ref.namespace else "", ref.name)

    def image(self, image: str) -> str:
        prefixes = [p for p in self.images if image.startswith(p)]
        if not prefixes:
            return image
        prefix = max(prefixes, key=len)
        return self.images[prefix] + image[len(prefix) :]

    def apply(self, manifest: Manifest) -> Manifest:
        """The target's version of a (stripped) source manifest; the input is left unchanged."""
        source = ref_of(manifest)
        out = copy.deepcopy(manifest)
        target = self.target_ref(source)
        out["metadata"]["name"] = target.name
        if target.namespace:
            out["metadata"]["namespace"] = target.namespace
        if source.kind in ("RoleBinding", "ClusterRoleBinding"):
            for subject in out.get("subjects") or []:
                if subject.get("namespace"):
                    subject["namespace"] = self.namespace(subject["namespace"])
        for pod in _pod_specs(out):
            for container in (*pod.get("initContainers", []), *pod.get("containers", [])):
                if "image" in container:
                    container["image"] = self.image(container["image"])
        for claim in _claim_specs(out):
            if claim.get("storageClassName") in self.storage_classes:
                claim["storageClassName"] = self.storage_classes[claim["storageClassName"]]
        count = self._replicas_for(source)
        if count is not None:
            out.setdefault("spec", {})["replicas"] = count
        return out

    def _replicas_for(self, ref: ObjectRef) -> int | None:
        for key in (f"{ref.kind}/{ref.namespace}/{ref.name}", f"{ref.kind}/{ref.name}"):
            if key in self.replicas:
                return self.replicas[key]
        return None


def _string_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TransformError(
            f"{key}: a mapping of source name to target name, e.g. {key}: {{a: b}}"
        )
    return dict(value)


def _pod_specs(manifest: Manifest) -> Iterator[dict[str, Any]]:
    node: Any = manifest
    for key in POD_TEMPLATE_PATHS.get(manifest["kind"], ()):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        yield node


def _claim_specs(manifest: Manifest) -> Iterator[dict[str, Any]]:
    spec = manifest.get("spec") or {}
    if manifest["kind"] in ("PersistentVolumeClaim", "PersistentVolume"):
        yield spec
    elif manifest["kind"] == "StatefulSet":
        for template in spec.get("volumeClaimTemplates") or []:
            yield template.setdefault("spec", {})
