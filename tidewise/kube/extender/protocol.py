"""The kube-scheduler extender protocol on the wire: plain JSON, keys the Go field names.

Source: ``k8s.io/kube-scheduler/extender/v1/types.go`` (the types carry no json tags, so the
keys are the capitalised field names) and the client in ``pkg/scheduler/extender.go``, which
POSTs to ``<urlPrefix>/<verb>`` and treats any status but 200, or a non-empty ``Error``, as a
failure. Research notes: ``kubernetes-testenv-and-anchors.md`` §3.

::

    ExtenderArgs          {"Pod": v1.Pod, "Nodes": v1.NodeList|null, "NodeNames": [..]|null}
    ExtenderFilterResult  {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes",
                           "Error"}
    HostPriorityList      [{"Host": "n1", "Score": 0..10}, ...]
    ExtenderBindingArgs   {"PodName", "PodNamespace", "PodUID", "Node"}
    ExtenderBindingResult {"Error": ""}

With ``nodeCacheCapable: true`` the scheduler sends (and expects back) ``NodeNames`` only;
otherwise full ``Nodes``. Both are answered in the form they came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.kube.extender.state import Verdict


class ProtocolError(ValueError):
    """The request is not what the protocol says."""


@dataclass(frozen=True)
class ExtenderArgs:
    pod: Mapping[str, Any]
    names: list[str]
    nodes: list[Mapping[str, Any]] | None  # the full objects, when not node-cache capable


@dataclass(frozen=True)
class BindingArgs:
    pod_name: str
    namespace: str
    uid: str
    node: str


def extender_args(body: Any) -> ExtenderArgs:
    """Read an ``ExtenderArgs`` body (filter and prioritize)."""
    if not isinstance(body, dict) or not isinstance(body.get("Pod"), dict):
        raise ProtocolError("ExtenderArgs must be an object with a Pod")
    if body.get("NodeNames") is not None:
        return ExtenderArgs(body["Pod"], [str(n) for n in body["NodeNames"]], None)
    items = (body.get("Nodes") or {}).get("items") or []
    names = [str((node.get("metadata") or {}).get("name", "")) for node in items]
    return ExtenderArgs(body["Pod"], names, list(items))


def binding_args(body: Any) -> BindingArgs:
    """Read an ``ExtenderBindingArgs`` body."""
    fields = ("PodName", "PodNamespace", "PodUID", "Node")
    if not isinstance(body, dict) or not all(isinstance(body.get(f), str) for f in fields):
        raise ProtocolError(f"ExtenderBindingArgs needs the strings {', '.join(fields)}")
    return BindingArgs(*(body[f] for f in fields))


def filter_result(args: ExtenderArgs, verdict: Verdict) -> dict[str, Any]:
    """An ``ExtenderFilterResult`` in the form the request came in."""
    result: dict[str, Any] = {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": verdict.failed,
        "FailedAndUnresolvableNodes": verdict.unresolvable,
        "Error": "",
    }
    if args.nodes is None:
        result["NodeNames"] = verdict.passed
    else:
        passed = set(verdict.passed)
        kept = [n for n in args.nodes if (n.get("metadata") or {}).get("name") in passed]
        result["Nodes"] = {"apiVersion": "v1", "kind": "NodeList", "items": kept}
    return result


def filter_error(message: str) -> dict[str, Any]:
    """A filter that fails as a whole: the scheduler reports ``message`` on the pod."""
    return {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": message,
    }


def host_priority_list(scores: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"Host": host, "Score": score} for host, score in scores.items()]


def binding_result(error: str = "") -> dict[str, str]:
    return {"Error": error}
