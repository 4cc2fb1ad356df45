"""``tidewise job --cluster kube``: jobs as the cluster holds them, for a person at a terminal.

Submit creates the rendered object (suspended: the queue controller starts it); list and get
read the objects and what the controller wrote on them (queue position and reason); delete
removes the object with its pods. Synchronous on purpose: one command, a few calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from httpx2 import HTTPStatusError
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job as KubeJob
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType

from tidewise.kube.jobs.controller import PyTorchJob, not_served
from tidewise.kube.jobs.observe import (
    JOB_LABEL,
    POSITION,
    REASON,
    admission,
    finished,
    job_spec,
    suspended,
)
from tidewise.model import JobPhase
from tidewise.queue.manifests import QUEUE_LABEL


class JobClientError(RuntimeError):
    """One line for the user: what went wrong and what to do."""


def submit(client: Client, manifest: Mapping[str, Any]) -> None:
    """Create the job object; a PyTorchJob needs Kubeflow's training operator installed."""
    try:
        # the PyTorchJob resource is registered for from_dict by tidewise.kube.jobs.controller
        client.create(from_dict(dict(manifest)))
    except ApiError as error:
        name = manifest["metadata"]["name"]
        if error.status.code == 409:
            message = f"NAME: a job {name!r} exists; delete it or pick another name"
            raise JobClientError(message) from None
        if error.status.code == 404 and manifest["kind"] == "PyTorchJob":
            raise JobClientError(
                "--workers: a PyTorchJob needs the Kubeflow training operator's CRD "
                "(pytorchjobs.kubeflow.org), which this cluster does not serve; install it or "
                "submit one worker"
            ) from None
        raise JobClientError(f"the API server refused the job: {error.status.message}") from None


def _objects(client: Client, namespace: str) -> list[dict[str, Any]]:
    found = [
        j.to_dict() for j in client.list(KubeJob, namespace=namespace, labels={QUEUE_LABEL: None})
    ]
    try:
        found += [
            j.to_dict()
            for j in client.list(PyTorchJob, namespace=namespace, labels={QUEUE_LABEL: None})
        ]
    except HTTPStatusError as error:
        if not not_served(error):
            raise
    return found


def status(obj: Mapping[str, Any], running_pods: int) -> JobPhase:
    done = finished(obj)
    if done is not None:
        return done
    if suspended(obj) or admission(obj) is None:
        return JobPhase.QUEUING
    return JobPhase.RUNNING if running_pods >= job_spec(obj).workers else JobPhase.PENDING


def row(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The columns ``tidewise job --cluster sim`` shows, read from the cluster."""
    spec = job_spec(obj)
    annotations = obj["metadata"].get("annotations") or {}
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    phase = status(obj, len(running))
    position = annotations.get(POSITION) if phase is JobPhase.QUEUING else None
    return {
        "name": obj["metadata"]["name"],
        "kind": obj["kind"],
        "status": phase.value,
        "queue": spec.queue,
        "priority": spec.priority,
        "workers": spec.workers,
        "gpus": spec.gpus,
        "position": int(position) if position else None,
        "reason": annotations.get(REASON) if phase is JobPhase.QUEUING else None,
        "nodes": sorted(
            {p["spec"]["nodeName"] for p in pods if (p.get("spec") or {}).get("nodeName")}
        ),
        "image": spec.image,
        "command": list(spec.command),
        "dataset": spec.dataset,
        "checkpointable": spec.checkpointable,
    }


def job_pods(client: Client, namespace: str) -> list[dict[str, Any]]:
    """Every pod of a job in ``namespace`` (they carry the ``tidewise.io/job`` label)."""
    return [p.to_dict() for p in client.list(Pod, namespace=namespace, labels={JOB_LABEL: None})]


def rows(
    client: Client, namespace: str, listed: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per job in ``namespace``, its state read from its pods ``listed`` (by
    :func:`job_pods`, listed once for the rows and the costs)."""
    pods: dict[str, list[dict[str, Any]]] = {}
    for body in listed:
        pods.setdefault(body["metadata"]["labels"][JOB_LABEL], []).append(dict(body))
    found = _objects(client, namespace)
    return [row(obj, pods.get(obj["metadata"]["name"], [])) for obj in found]


def delete(client: Client, name: str, namespace: str) -> None:
    for obj in _objects(client, namespace):
        if obj["metadata"]["name"] == name:
            kind = KubeJob if obj["kind"] == "Job" else PyTorchJob
            # foreground: the job goes once its pods are gone (a Job alone would orphan them)
            client.delete(kind, name, namespace=namespace, cascade=CascadeType.FOREGROUND)
            return
    raise JobClientError(f"NAME: no job {name!r} in {namespace}; `tidewise job list` shows them")


def logs(
    client: Client, name: str, namespace: str, worker: int, follow: bool, tail: int | None
) -> Iterator[str]:
    """The log lines of one of the job's pods, as ``kubectl logs`` gives them.

    A job's pods carry its ``tidewise.io/job`` label, whatever made them (a Job's controller,
    Kubeflow's training operator); ``worker`` indexes them in name order, which is the
    operator's replica order (``NAME-master-0``, ``NAME-worker-0``, ...)."""
    found = client.list(Pod, namespace=namespace, labels={JOB_LABEL: name})
    pods: list[str] = sorted(p.to_dict()["metadata"]["name"] for p in found)
    if not pods:
        if not any(obj["metadata"]["name"] == name for obj in _objects(client, namespace)):
            raise JobClientError(
                f"NAME: no job {name!r} in {namespace}; `tidewise job list` shows them"
            )
        raise JobClientError(
            f"NAME: job {name!r} has no pods yet; `tidewise job get {name}` says why it waits"
        )
    if not 0 <= worker < len(pods):
        raise JobClientError(f"--worker: job {name!r} has pods 0 to {len(pods) - 1}; got {worker}")
    try:
        yield from client.log(
            pods[worker], namespace=namespace, follow=follow, tail_lines=tail, newlines=False
        )
    except ApiError as error:  # e.g. its container is still waiting to start
        message = f"NAME: no log from pod {pods[worker]}: {error.status.message}"
        raise JobClientError(message) from None
