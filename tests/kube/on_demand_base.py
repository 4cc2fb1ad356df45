"""What the on-demand base's end-to-end test and its benchmark (bench/on_demand_base.py)
share: the operator's configuration with the webhook on loopback, the shipped webhook
configuration pointed at it, an opted-in Deployment, and where its replicas run."""

import base64
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from lightkube import Client, codecs
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec, ResourceRequirements
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.kwok import TOLERATE_FAKE
from tests.kube.manifests import BASE
from tidewise.kube.ondemand.workloads import BASE as BASE_ANNOTATION
from tidewise.kube.ondemand.workloads import OPT_IN, PINNED
from tidewise.testenv import Cluster

CAPACITY = "karpenter.sh/capacity-type"
POOL_LABEL = "tidewise.io/node-pool"


def operator_config(cluster: Cluster, port: int, path: Path) -> Path:
    """``tidewise operator``'s configuration for the test: Karpenter buys the nodes (no
    provisioner), the webhook on 127.0.0.1:``port`` with the testenv PKI's certificate, a
    reconciler pass every second."""
    pki = cluster.folder / "pki"
    config = {
        "nodes": {"engine": "none"},
        "on_demand_base": {
            "webhook_host": "127.0.0.1",
            "webhook_port": port,
            "cert_file": str(pki / "webhook.crt"),
            "key_file": str(pki / "webhook.key"),
            "period_s": 1.0,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def webhook_configuration(
    cluster: Cluster, port: int, namespace: str, component: str = "on-demand-base"
) -> dict:
    """The shipped MutatingWebhookConfiguration of ``component``, as the API server reaches a
    process on this machine: by URL on 127.0.0.1 with the testenv CA as its caBundle (the
    shipped one names the operator's Service and takes its CA from cert-manager), for
    ``namespace`` only."""
    shipped = BASE / f"components/{component}/webhook.yaml"
    (doc,) = [d for d in yaml.safe_load_all(shipped.read_text()) if d["kind"].startswith("Mut")]
    doc["metadata"] = {"name": f"{doc['metadata']['name']}-{namespace}"}
    ca = base64.b64encode((cluster.folder / "pki/ca.crt").read_bytes()).decode()
    for hook in doc["webhooks"]:
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}/mutate", "caBundle": ca}
        hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return doc


def apply_webhook(kube: Client, doc: dict) -> None:
    kube.apply(codecs.from_dict(doc), field_manager="tidewise-tests", force=True)


def delete_webhook(kube: Client, doc: dict) -> None:
    kube.delete(MutatingWebhookConfiguration, doc["metadata"]["name"])


def based_deployment(
    name: str, replicas: int, base: str, selector: dict[str, str], fake: bool = False
) -> Deployment:
    """``replicas`` of 500m / 1 GiB on the nodes ``selector`` picks (kwok's fake nodes too
    with ``fake``), annotated with an on-demand ``base`` and opted in through the template's
    label."""
    requests = {"cpu": "500m", "memory": "1Gi"}
    container = Container(
        name="main", image="fake", resources=ResourceRequirements(requests=requests)
    )
    labels = {"app": name}
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels={**labels, OPT_IN: "true"}),
        spec=PodSpec(
            containers=[container],
            nodeSelector=selector,
            tolerations=[TOLERATE_FAKE] if fake else None,
        ),
    )
    return Deployment(
        metadata=ObjectMeta(name=name, annotations={BASE_ANNOTATION: base}),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


@dataclass(frozen=True)
class Placed:
    """One live replica: the capacity type it was pinned to, that of its node, its phase."""

    name: str
    pinned: str | None
    node_capacity: str | None
    phase: str
    node: str | None


def placed(kube: Client, namespace: str, app: str) -> list[Placed]:
    """The app's replicas that are not going away, with their nodes' capacity types."""
    capacities = {
        n.metadata.name: (n.metadata.labels or {}).get(CAPACITY)
        for n in kube.list(Node)
        if n.metadata.deletionTimestamp is None
    }
    found = []
    for pod in kube.list(Pod, namespace=namespace, labels={"app": app}):
        if pod.metadata.deletionTimestamp is not None:
            continue
        node = pod.spec.nodeName
        found.append(
            Placed(
                pod.metadata.name,
                (pod.metadata.labels or {}).get(PINNED),
                capacities.get(node) if node else None,
                pod.status.phase,
                node,
            )
        )
    return found


def running_on_demand(replicas: list[Placed]) -> int:
    """Replicas running on a node bought on-demand (or reserved) now."""
    return sum(
        1 for r in replicas if r.phase == "Running" and r.node_capacity in ("on-demand", "reserved")
    )


def watch_while(
    kube: Client, namespace: str, app: str, until, deadline: float = 180, poll_s: float = 0.2
) -> list[int]:
    """Sample the replicas running on on-demand every ``poll_s`` until ``until()`` holds;
    the samples (an ``AssertionError`` past ``deadline`` seconds)."""
    end = time.monotonic() + deadline
    samples = []
    while True:
        samples.append(running_on_demand(placed(kube, namespace, app)))
        if until():
            return samples
        assert time.monotonic() < end, f"gave up after {len(samples)} samples"
        time.sleep(poll_s)
