"""The replication plan: which objects go to the target, in which order, each behind a gate.

Order comes from a dependency graph, not from a list of kinds as in Velero: edges are what
the objects themselves say (a namespaced object needs its Namespace, a custom resource its
CRD, a RoleBinding its Role, a pod template the ServiceAccount, ConfigMaps, Secrets and claims
it mounts, a StatefulSet its headless Service) plus what the user declares with the
``tidewise.io/depends-on`` annotation. Among the steps whose dependencies are done, the kind
rank decides (CRDs, namespaces, identities and configuration, claims, services, workloads,
custom resources), then namespace and name, so the same input always gives the same plan.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tidewise.fleet.gates import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, Gate, gate_for
from tidewise.fleet.manifests import Manifest, ObjectRef, Selection, ref_of, select
from tidewise.fleet.transform import POD_TEMPLATE_PATHS, Transform

DEPENDS_ON = "tidewise.io/depends-on"
KIND_RANKS: tuple[tuple[str, ...], ...] = (
    ("CustomResourceDefinition",),
    ("Namespace",),
    (
        "StorageClass",
        "PersistentVolume",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "ClusterRoleBinding",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "LimitRange",
        "ResourceQuota",
    ),
    ("PersistentVolumeClaim",),
    ("Service",),
    ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"),
)
CUSTOM_RANK = len(KIND_RANKS)  # custom resources last: their controllers may need the rest
CLUSTERS = ("source", "target")


class PlanError(ValueError):
    """A plan that cannot be made: a dependency cycle, a missing dependency, a bad annotation."""


class Cluster(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class Action(StrEnum):
    APPLY = "apply"  # server-side apply the manifest to the target, then wait at its gate
    WAIT = "wait"  # wait at the gate of an object that is already there (cross-cluster edge)


@dataclass(frozen=True)
class Step:
    """One thing to do: its id is the object's ``Kind/namespace/name`` on the cluster it acts on
    (prefixed ``source:`` for waits on the source), ``after`` the ids it waits for."""

    id: str
    action: Action
    cluster: Cluster
    ref: ObjectRef
    gate: Gate
    manifest: Manifest | None = None
    after: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        gate = self.gate
        return {
            "id": self.id,
            "action": self.action.value,
            "cluster": self.cluster.value,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "gate": {
                "kind": gate.kind.value,
                "timeout_s": gate.timeout_s,
                "retries": gate.retries,
                "condition": gate.condition,
                "url": gate.url,
            },
            "after": list(self.after),
            "manifest": self.manifest,
        }


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """Identifies the plan, so a run file is never resumed against a different one."""
        text = json.dumps([s.to_dict() for s in self.steps], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint(), "steps": [s.to_dict() for s in self.steps]}


def rank(kind: str) -> int:
    for index, kinds in enumerate(KIND_RANKS):
        if kind in kinds:
            return index
    return CUSTOM_RANK


def order_key(ref: ObjectRef) -> tuple[int, int, str, str, str]:
    kinds = KIND_RANKS[rank(ref.kind)] if rank(ref.kind) < CUSTOM_RANK else ()
    within = kinds.index(ref.kind) if ref.kind in kinds else 0
    return (rank(ref.kind), within, ref.kind, ref.namespace, ref.name)


@dataclass(frozen=True)
class Dependency:
    """A parsed ``tidewise.io/depends-on`` entry, named as on the source."""

    cluster: Cluster
    ref: ObjectRef


def parse_depends_on(value: str, namespace: str, owner: ObjectRef) -> list[Dependency]:
    """``[source:|target:]Kind/name`` or ``Kind/namespace/name``, comma-separated.

    ``target:`` (the default) names an object of the same replication, which must be in the
    selection; ``source:`` an object on the source cluster that must be ready first.
    """
    found = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        cluster, _, path = entry.rpartition(":")
        parts = path.split("/")
        if cluster not in ("", *CLUSTERS) or len(parts) not in (2, 3) or not all(parts):
            raise PlanError(
                f"{owner}: annotation {DEPENDS_ON}: cannot read {entry!r}; write "
                "[source:]Kind/name or [source:]Kind/namespace/name, comma-separated"
            )
        kind, name = parts[0], parts[-1]
        ref_namespace = parts[1] if len(parts) == 3 else ("" if kind == "Namespace" else namespace)
        found.append(Dependency(Cluster(cluster or "target"), ObjectRef(kind, ref_namespace, name)))
    return found


def structural_references(manifest: Manifest) -> Iterator[ObjectRef]:
    """What an object needs before it can work, read from its own fields."""
    ref = ref_of(manifest)
    namespace = ref.namespace
    if namespace:
        yield ObjectRef("Namespace", "", namespace)
    if ref.kind in ("RoleBinding", "ClusterRoleBinding"):
        role = manifest.get("roleRef") or {}
        role_ns = namespace if role.get("kind") == "Role" else ""
        yield ObjectRef(role.get("kind", ""), role_ns, role.get("name", ""))
    if ref.kind == "StatefulSet" and (manifest.get("spec") or {}).get("serviceName"):
        yield ObjectRef("Service", namespace, manifest["spec"]["serviceName"])
    pod = _pod_spec(manifest)
    if pod is None:
        return
    if pod.get("serviceAccountName"):
        yield ObjectRef("ServiceAccount", namespace, pod["serviceAccountName"])
    for volume in pod.get("volumes") or []:
        for key, kind, field_name in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
            ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName"),
        ):
            if key in volume and volume[key].get(field_name):
                yield ObjectRef(kind, namespace, volume[key][field_name])
    for container in (*pod.get("initContainers", []), *pod.get("containers", [])):
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if source.get(key, {}).get("name"):
                    yield ObjectRef(kind, namespace, source[key]["name"])
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if value_from.get(key, {}).get("name"):
                    yield ObjectRef(kind, namespace, value_from[key]["name"])


def _pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    node: Any = manifest
    for key in POD_TEMPLATE_PATHS.get(manifest["kind"], ("-",)):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _crd_kinds(manifests: Iterable[Manifest]) -> dict[str, ObjectRef]:
    return {
        m["spec"]["names"]["kind"]: ref_of(m)
        for m in manifests
        if m["kind"] == "CustomResourceDefinition"
    }


def build_plan(
    source: Iterable[Mapping[str, Any]],
    selection: Selection,
    transform: Transform | None = None,
    timeout_s: float | None = None,
    retries: int | None = None,
) -> Plan:
    """The ordered steps that copy what ``selection`` picks from ``source`` to the target.

    ``timeout_s`` and ``retries`` set the default of every gate; an object's own
    ``tidewise.io/ready-*`` annotations win over them.
    """
    transform = transform or Transform()
    chosen = {ref_of(m): m for m in select(source, selection)}
    crds = _crd_kinds(chosen.values())
    gate_timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
    gate_retries = DEFAULT_RETRIES if retries is None else retries
    steps: dict[str, Step] = {}
    for ref, manifest in chosen.items():
        needs = {r for r in structural_references(manifest) if r in chosen and r != ref}
        if ref.kind in crds:
            needs.add(crds[ref.kind])
        waits = []
        annotations = manifest["metadata"].get("annotations") or {}
        for dependency in parse_depends_on(annotations.get(DEPENDS_ON, ""), ref.namespace, ref):
            if dependency.cluster == Cluster.SOURCE:
                waits.append(dependency.ref)
            elif dependency.ref in chosen:
                needs.add(dependency.ref)
            else:
                raise PlanError(
                    f"{ref}: {DEPENDS_ON} names {dependency.ref}, which is not in the selection; "
                    "widen --namespace/--selector/--kinds, or write source:"
                    f"{dependency.ref.kind}/{dependency.ref.name} if it lives on the source only"
                )
        after = [str(transform.target_ref(r)) for r in sorted(needs)]
        for wait in waits:
            wait_id = f"source:{wait}"
            after.append(wait_id)
            steps[wait_id] = Step(
                wait_id,
                Action.WAIT,
                Cluster.SOURCE,
                wait,
                gate_for({"kind": wait.kind, "metadata": {}}, gate_timeout_s, gate_retries),
            )
        target = transform.target_ref(ref)
        steps[str(target)] = Step(
            str(target),
            Action.APPLY,
            Cluster.TARGET,
            target,
            gate_for(manifest, gate_timeout_s, gate_retries),
            transform.apply(manifest),
            tuple(after),
        )
    return Plan(tuple(topological_order(steps)))


def topological_order(steps: Mapping[str, Step]) -> list[Step]:
    """Kahn's algorithm, choosing by kind rank among the ready steps; a cycle is an error that
    names every step on it."""
    waiting = {sid: set(step.after) for sid, step in steps.items()}
    users: dict[str, list[str]] = {sid: [] for sid in steps}
    for sid, step in steps.items():
        for before in step.after:
            users[before].append(sid)
    ready = [(order_key(s.ref), s.cluster.value, s.id) for s in steps.values() if not s.after]
    heapq.heapify(ready)
    ordered: list[Step] = []
    while ready:
        *_, sid = heapq.heappop(ready)
        ordered.append(steps[sid])
        for user in users[sid]:
            waiting[user].discard(sid)
            if not waiting[user]:
                step = steps[user]
                heapq.heappush(ready, (order_key(step.ref), step.cluster.value, user))
    if len(ordered) < len(steps):
        cycle = _a_cycle({sid: after for sid, after in waiting.items() if after})
        raise PlanError(
            "dependency cycle: "
            + " -> ".join(cycle)
            + f"; remove one of these {DEPENDS_ON} edges (or the reference that makes it)"
        )
    return ordered


def _a_cycle(blocked: Mapping[str, set[str]]) -> list[str]:
    """Follow 'waits for' edges among blocked steps until one repeats (every blocked step
    waits for another blocked one, so the walk must close)."""
    start = min(blocked)
    path, seen = [start], {start: 0}
    while True:
        nxt = min(b for b in blocked[path[-1]] if b in blocked)
        if nxt in seen:
            return [*path[seen[nxt] :], nxt]
        seen[nxt] = len(path)
        path.append(nxt)
