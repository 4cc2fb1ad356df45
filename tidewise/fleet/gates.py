"""Readiness gates: when an applied object counts as started, so the next step may begin.

Velero restores by kind and never waits for a Deployment to be ready (velero#5068); a gate
is what makes the order mean something. The rules follow ``kubectl rollout status`` and Argo
CD's built-in health checks; judging an object's state is pure, the waiting is the adapter's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tidewise.fleet.manifests import Manifest

ANNOTATION_PREFIX = "tidewise.io/"
READY_CONDITION = "tidewise.io/ready-condition"
READY_HTTP = "tidewise.io/ready-http"
READY_TIMEOUT = "tidewise.io/ready-timeout"
READY_RETRIES = "tidewise.io/ready-retries"
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_RETRIES = 1


class GateKind(StrEnum):
    EXISTS = "exists"  # applied is started (ConfigMap, Service, RBAC...)
    AVAILABLE = "available"  # Deployment: all replicas updated and available
    READY = "ready"  # StatefulSet, DaemonSet: all replicas ready
    COMPLETE = "complete"  # Job: condition Complete
    BOUND = "bound"  # PersistentVolumeClaim: phase Bound
    CONDITION = "condition"  # any object with status.conditions: the named one is True
    HTTP = "http"  # a URL answers 2xx or 3xx (the adapter probes it)


DEFAULT_KINDS = {
    "Deployment": GateKind.AVAILABLE,
    "StatefulSet": GateKind.READY,
    "DaemonSet": GateKind.READY,
    "Job": GateKind.COMPLETE,
    "PersistentVolumeClaim": GateKind.BOUND,
}


class GateError(ValueError):
    """A gate annotation that cannot be used; the message names it."""


@dataclass(frozen=True)
class Gate:
    """What to wait for, how long, and how many times to apply again and wait once more."""

    kind: GateKind = GateKind.EXISTS
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    condition: str = ""
    url: str = ""

    def describe(self) -> str:
        what = {
            GateKind.CONDITION: f"condition {self.condition}=True",
            GateKind.HTTP: f"GET {self.url} 2xx/3xx",
        }.get(self.kind, self.kind.value)
        if self.kind == GateKind.EXISTS:
            return what
        return f"{what} (≤{self.timeout_s:g}s, {self.retries + 1} tries)"


@dataclass(frozen=True)
class GateState:
    """``ready``: move on; ``failed``: waiting longer will not help (a failed Job)."""

    ready: bool
    detail: str
    failed: bool = False


def gate_for(
    manifest: Manifest,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> Gate:
    """The default gate of the object's kind, or the one its annotations ask for."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    kind = DEFAULT_KINDS.get(manifest["kind"], GateKind.EXISTS)
    condition, url = "", ""
    if manifest["kind"] == "CustomResourceDefinition":
        kind, condition = GateKind.CONDITION, "Established"
    if READY_CONDITION in annotations:
        kind, condition = GateKind.CONDITION, str(annotations[READY_CONDITION])
    if READY_HTTP in annotations:
        kind, url = GateKind.HTTP, str(annotations[READY_HTTP])
        if not url.startswith(("http://", "https://")):
            raise GateError(f"{READY_HTTP}: an http:// or https:// URL (got {url!r})")
    timeout_s = _number(annotations, READY_TIMEOUT, timeout_s, float)
    retries = int(_number(annotations, READY_RETRIES, retries, int))
    if timeout_s <= 0 or retries < 0:
        raise GateError(f"{READY_TIMEOUT} must be > 0 and {READY_RETRIES} >= 0")
    return Gate(kind, timeout_s, retries, condition, url)


def _number(annotations: Mapping[str, Any], key: str, default: float, kind: type) -> float:
    if key not in annotations:
        return default
    try:
        return kind(annotations[key])
    except ValueError:
        raise GateError(f"{key}: a number (got {annotations[key]!r})") from None


def check(gate: Gate, live: Mapping[str, Any]) -> GateState:
    """Whether the live object (as the target's API server returns it) passes ``gate``.

    HTTP gates are judged by the adapter, which probes the URL; here they pass.
    """
    spec, status = live.get("spec") or {}, live.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if gate.kind in (GateKind.EXISTS, GateKind.HTTP):
        return GateState(True, "applied")
    if gate.kind == GateKind.BOUND:
        phase = status.get("phase", "Pending")
        return GateState(phase == "Bound", f"phase {phase}", failed=phase == "Lost")
    if gate.kind == GateKind.COMPLETE:
        if _true(conditions, "Failed"):
            return GateState(False, _reason(conditions["Failed"]), failed=True)
        done = _true(conditions, "Complete")
        return GateState(done, "complete" if done else f"{status.get('succeeded', 0)} succeeded")
    if gate.kind == GateKind.CONDITION:
        found = conditions.get(gate.condition)
        ready = _true(conditions, gate.condition)
        return GateState(ready, f"{gate.condition}={found.get('status') if found else 'absent'}")
    observed = status.get("observedGeneration", 0) >= (live.get("metadata") or {}).get(
        "generation", 0
    )
    if live.get("kind") == "DaemonSet":
        want, have = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
        return GateState(observed and want > 0 and have >= want, f"{have}/{want} ready")
    want = spec.get("replicas", 1)
    if gate.kind == GateKind.READY:
        have = status.get("readyReplicas", 0)
        return GateState(observed and have >= want, f"{have}/{want} ready")
    updated, have = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return GateState(False, "progress deadline exceeded", failed=True)
    ready = (
        observed
        and updated >= want
        and have >= want
        and (want == 0 or _true(conditions, "Available"))
    )
    return GateState(ready, f"{have}/{want} available")


def _true(conditions: Mapping[str, Mapping[str, Any]], kind: str) -> bool:
    return (conditions.get(kind) or {}).get("status") == "True"


def _reason(condition: Mapping[str, Any]) -> str:
    return f"{condition.get('reason', 'failed')}: {condition.get('message', '')}".rstrip(": ")
