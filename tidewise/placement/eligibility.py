"""Where a pod may run, whatever is free: node selector, required node affinity, taints.

kube-scheduler filters nodes by these before any resource is counted (the NodeAffinity and
TaintToleration plugins), so every planner that predicts where a pod will land (the
defragmenter's moves, the serverless burst's virtual node) must apply the same rules or it
plans a landing the scheduler refuses. They are written once here, on the API's own shapes
(a pod's ``spec`` and a node's ``metadata``/``spec`` as plain mappings), pure and without I/O.

The rules, after the Kubernetes documentation:

* ``nodeSelector``: every key with the same value among the node's labels.
* ``requiredDuringSchedulingIgnoredDuringExecution``: the node matches at least one
  ``nodeSelectorTerm``; a term matches when all its ``matchExpressions`` (``In``, ``NotIn``,
  ``Exists``, ``DoesNotExist``, ``Gt``, ``Lt``) and ``matchFields`` (``metadata.name`` only)
  hold; a term with neither matches nothing. Preferred terms only score and are not read.
  https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#node-affinity
* Taints: a ``NoSchedule`` or ``NoExecute`` taint keeps off every pod without a toleration
  for it (``PreferNoSchedule`` only scores). A toleration matches a taint with the same key
  (an empty key with ``Exists`` matches every key), the same effect (an empty effect matches
  every effect) and, unless ``Exists``, the same value.
  https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

KEEPS_OFF = ("NoSchedule", "NoExecute")
"""Taint effects that keep a pod off a node at scheduling time."""


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' toleration rule (``Toleration.ToleratesTaint``): same key (or an empty key
    with ``Exists``), same effect (or none), ``Exists`` or an equal value."""
    for t in tolerations:
        key_ok = t.get("key") == taint.get("key") or (
            not t.get("key") and t.get("operator") == "Exists"
        )
        effect_ok = not t.get("effect") or t.get("effect") == taint.get("effect")
        value_ok = t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", "")
        if key_ok and effect_ok and value_ok:
            return True
    return False


def requirement_holds(requirement: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One selector requirement (``key``, ``operator``, ``values``) against labels: the
    LabelSelector operators and the node selector's ``Gt``/``Lt`` (integers compared; a
    value that is not one never matches)."""
    key, operator = requirement.get("key", ""), requirement.get("operator")
    values = requirement.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A ``nodeSelectorTerm``: all its expressions and fields hold; an empty term none."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = {"metadata.name": meta.get("name", "")}
    return all(requirement_holds(e, labels) for e in expressions) and all(
        requirement_holds(f, name) for f in fields
    )


def affinity_admits(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """The pod's ``nodeSelector`` and required node affinity admit the node."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    return required is None or any(term_matches(t, node) for t in required)


def may_run_on(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """The scheduler's filters but resources: selector and required node affinity admit the
    node, and the pod tolerates its ``NoSchedule`` and ``NoExecute`` taints."""
    spec = pod.get("spec") or {}
    if not affinity_admits(spec, node):
        return False
    tolerations = spec.get("tolerations") or []
    taints = (node.get("spec") or {}).get("taints") or []
    return all(tolerates(tolerations, t) for t in taints if t.get("effect") in KEEPS_OFF)
