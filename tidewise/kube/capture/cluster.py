"""What ``tidewise capture`` reads from the API server: the Deployments and StatefulSets a
namespace and label selector choose, with their pod requests, replicas and the autoscalers
that target them (HorizontalPodAutoscaler, ElasticScaler, CronHorizontalPodAutoscaler), and the
nodes. Reads only (``get``/``list``): deploy/capture/rbac.yaml grants nothing more."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResource
from lightkube.operators import exists, not_equal, not_exists
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import Node

from tidewise.kube.api.kinds import CronHpa, ElasticScalerResource
from tidewise.kube.api.reads import listed
from tidewise.kube.api.resources import pod_request
from tidewise.model import Resources
from tidewise.scaling.captured import Scaling, fixed, from_autoscaler, from_cron
from tidewise.scaling.cron import CronError, CronHpaSpec

WORKLOAD_KINDS: dict[str, type[NamespacedResource]] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
}
NOT_FOUND = 404


@dataclass(frozen=True)
class ObservedWorkload:
    """One Deployment or StatefulSet as the scenario needs it."""

    kind: str
    namespace: str
    name: str
    replicas: int
    requests: Resources
    scaling: Scaling


def label_selector(text: str | None) -> dict[str, Any]:
    """kubectl's equality-based ``-l`` (``a=b,c!=d,e,!f``) as lightkube's selector pairs;
    ``ValueError`` names what it cannot read (set-based ``in (...)`` included)."""
    pairs: dict[str, Any] = {}
    for term in (t.strip() for t in (text or "").split(",")):
        if not term:
            continue
        if "(" in term or " " in term:
            raise ValueError(f"-l: '{term}': give equality terms (k=v, k!=v, k, !k)")
        if "!=" in term:
            key, value = term.split("!=", 1)
            pairs[key] = not_equal(value)
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            pairs[key] = value
        elif term.startswith("!"):
            pairs[term[1:]] = not_exists()
        else:
            pairs[term] = exists()
    return pairs


def read_workloads(
    client: Client, namespace: str, selector: str | None = None
) -> tuple[list[ObservedWorkload], list[str]]:
    """The chosen workloads (``namespace`` ``*``: all) and a note for each one left out."""
    labels = label_selector(selector)
    autoscalers = _autoscalers(client, namespace)
    found, notes = [], []
    for kind, resource in WORKLOAD_KINDS.items():
        for raw in listed(client, resource, namespace=namespace, labels=labels or None):
            meta, spec = raw["metadata"], raw.get("spec") or {}
            where = f"{kind} {meta['namespace']}/{meta['name']}"
            template = {"spec": (spec.get("template") or {}).get("spec") or {}}
            try:
                requests = pod_request(template)
            except ValueError as error:
                notes.append(f"{where}: its pod requests cannot be read ({error}); left out")
                continue
            if requests.cpu_milli <= 0 or requests.memory_mib <= 0:
                notes.append(
                    f"{where}: no CPU or memory request, so nothing to size nodes by; left out "
                    "(set resources.requests)"
                )
                continue
            replicas = int((raw.get("status") or {}).get("replicas") or spec.get("replicas") or 0)
            scaling = _scaling(autoscalers, meta["namespace"], kind, meta["name"], replicas)
            found.append(
                ObservedWorkload(kind, meta["namespace"], meta["name"], replicas, requests, scaling)
            )
            notes.extend(f"{where}: {n}" for n in scaling.notes)
    return found, notes


def read_nodes(client: Client) -> list[dict[str, Any]]:
    return listed(client, Node)


@dataclass(frozen=True)
class _Autoscalers:
    hpas: list[dict[str, Any]]
    elastic: list[dict[str, Any]]
    crons: list[CronHpaSpec]


def _autoscalers(client: Client, namespace: str) -> _Autoscalers:
    hpas = _listed(client, HorizontalPodAutoscaler, namespace)
    elastic = _listed(client, ElasticScalerResource, namespace)
    crons = []
    for raw in _listed(client, CronHpa, namespace):
        try:
            crons.append(CronHpaSpec.from_manifest(raw))
        except CronError:
            continue  # the CronHPA controller reports it on the object
    return _Autoscalers(hpas, elastic, crons)


def _listed(client: Client, resource: Any, namespace: str) -> list[dict[str, Any]]:
    """Every object of ``resource``; none where its CRD is not installed."""
    try:
        return listed(client, resource, namespace=namespace)
    except ApiError as error:
        if error.status.code == NOT_FOUND:
            return []
        raise


def _targets(objs: Iterable[Mapping[str, Any]], namespace: str, kind: str, name: str) -> list:
    return [
        o
        for o in objs
        if o["metadata"].get("namespace") == namespace
        and ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind
        and ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name
    ]


def _scaling(
    autoscalers: _Autoscalers, namespace: str, kind: str, name: str, replicas: int
) -> Scaling:
    """The autoscaler that sizes the workload: an ElasticScaler, else an HPA (widened to the
    sizes a CronHPA on that HPA sets), else a CronHPA on the workload, else its replicas."""
    for resource, objs in (
        ("ElasticScaler", autoscalers.elastic),
        ("HorizontalPodAutoscaler", autoscalers.hpas),
    ):
        chosen = _targets(objs, namespace, kind, name)
        if chosen:
            scaling = from_autoscaler(resource, chosen[0])
            hpa = chosen[0]["metadata"]["name"]
            for cron in autoscalers.crons:
                if cron.namespace == namespace and cron.target.is_hpa and cron.target.name == hpa:
                    sizes = [job.target_size for job in cron.jobs]
                    return Scaling(
                        min(scaling.min_replicas, *sizes),
                        max(scaling.max_replicas, *sizes),
                        scaling.target_utilization,
                        f"{scaling.source} with CronHorizontalPodAutoscaler {cron.name}",
                        scaling.notes,
                    )
            return scaling
    for cron in autoscalers.crons:
        ref = cron.target
        if cron.namespace == namespace and ref.kind == kind and ref.name == name:
            return from_cron(cron, replicas)
    return fixed(replicas)
