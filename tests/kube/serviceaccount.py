"""The operator in the end-to-end tests runs as it would be deployed: the ServiceAccount and
RBAC of deploy/operator (the base and the components of the controllers it runs) applied to
the test cluster, and a kubeconfig holding a token minted for that ServiceAccount through
the TokenRequest API, never the admin's certificate. A call the shipped RBAC does not allow
fails the test as it would fail the deployment."""

from pathlib import Path

import yaml
from lightkube import Client, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount

from tests.kube.manifests import documents, listed_components
from tidewise.testenv import Cluster
from tidewise.testenv.kubeconfig import encoded

ACCOUNT = "tidewise-operator"
# the test's own, or applied by it (a webhook configuration reaches the test's process by URL)
SKIPPED = {"Namespace", "Deployment", "CustomResourceDefinition", "MutatingWebhookConfiguration"}
SKIPPED |= {"Service", "Issuer", "Certificate"}


ENGINE_COMPONENTS = {"karpenter": "karpenter", "kwok": "provisioner", "none": None}
"""The component of each ``nodes.engine``: the shipped list holds the default's."""


def components_for(options: tuple[str, ...], engine: str = "kwok") -> list[str]:
    """The components a ``tidewise operator`` with these options and node ``engine`` needs
    (the kwok fallback by default: the tests that start an operator buy kwok nodes with it)."""
    listed = [c for c in listed_components() if c not in ENGINE_COMPONENTS.values()]
    component = ENGINE_COMPONENTS[engine]
    extra = ["training-queue"] if "--training-queue" in options else []
    extra += ["on-demand-base"] if "--on-demand-base" in options else []
    extra += ["colocation"] if "--colocation" in options else []
    return listed + ([component] if component else []) + extra


def operator_kubeconfig(
    cluster: Cluster, kube: Client, namespace: str, components: list[str]
) -> Path:
    """Apply the shipped RBAC with its ServiceAccount in ``namespace`` (where the test's
    Lease lives, as kustomize's ``namespace:`` would move it) and write a kubeconfig for it."""
    for doc in documents(components, namespace):
        if doc["kind"] not in SKIPPED:
            kube.apply(codecs.from_dict(doc), field_manager="tidewise-tests", force=True)
    return account_kubeconfig(cluster, kube, namespace, ACCOUNT)


def account_kubeconfig(cluster: Cluster, kube: Client, namespace: str, account: str) -> Path:
    """A kubeconfig holding a token minted for the ServiceAccount ``account`` of
    ``namespace`` (which must exist), written in the cluster's folder."""
    spec = TokenRequestSpec(audiences=[], expirationSeconds=7200)
    meta = ObjectMeta(name=account, namespace=namespace)
    request = ServiceAccount.Token(metadata=meta, spec=spec)
    minted = kube.create(request, name=account, namespace=namespace)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testenv",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": encoded(cluster.folder / "pki/ca.crt"),
                },
            }
        ],
        "users": [{"name": account, "user": {"token": minted.status.token}}],
        "contexts": [{"name": account, "context": {"cluster": "testenv", "user": account}}],
        "current-context": account,
    }
    path = cluster.folder / f"{account}-{namespace}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def only(**controllers: object) -> dict[str, object]:
    """An operator configuration that runs only the ``controllers`` settings given: no node
    engine, none of the controllers on by default."""
    defaults = {"cronhpa": False, "elasticscaler": False, "resourcerecommendation": False}
    return {"nodes": {"engine": "none"}, "controllers": defaults | controllers}
