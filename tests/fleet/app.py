"""A small application as its manifests, the way a source cluster returns them."""

from typing import Any

NS = "shop"
# db mounts its claim and its settings: edges the planner must find by itself
DB_VOLUMES = [
    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
    {"name": "conf", "configMap": {"name": "settings"}},
]


def obj(kind: str, name: str, namespace: str = NS, **rest: Any) -> dict[str, Any]:
    api = {
        "Deployment": "apps/v1",
        "StatefulSet": "apps/v1",
        "Job": "batch/v1",
        "Role": "rbac.authorization.k8s.io/v1",
        "RoleBinding": "rbac.authorization.k8s.io/v1",
    }.get(kind, "v1")
    meta: dict[str, Any] = {"name": name, "labels": {"app": "shop"}}
    if namespace:
        meta["namespace"] = namespace
    meta.update(rest.pop("metadata", {}))
    return {"apiVersion": api, "kind": kind, "metadata": meta, **rest}


def workload(kind: str, name: str, annotations: dict[str, str] | None = None, **pod: Any) -> dict:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": f"registry-a.example/{name}:1"}], **pod},
    }
    spec: dict[str, Any] = {"template": template}
    if kind != "Job":
        spec |= {"replicas": 1, "selector": {"matchLabels": {"app": name}}}
    return obj(kind, name, metadata={"annotations": annotations or {}}, spec=spec)


def shop() -> list[dict[str, Any]]:
    return [
        workload(
            "Deployment",
            "api",
            {"tidewise.io/depends-on": "Deployment/db"},
            serviceAccountName="shop",
        ),
        workload("Job", "migrate", {"tidewise.io/depends-on": "Deployment/db"}),
        workload(
            "Deployment",
            "db",
            volumes=DB_VOLUMES,
        ),
        obj("Service", "api", spec={"clusterIP": "10.96.0.7", "ports": [{"port": 80}]}),
        obj("PersistentVolumeClaim", "data", spec={"storageClassName": "local-a"}),
        obj("Secret", "creds", data={"pw": "c2VjcmV0"}),
        obj("ConfigMap", "settings", data={"a": "1"}),
        obj(
            "RoleBinding",
            "shop",
            roleRef={"kind": "Role", "name": "reader", "apiGroup": "rbac.authorization.k8s.io"},
            subjects=[{"kind": "ServiceAccount", "name": "shop", "namespace": NS}],
        ),
        obj("Role", "reader", rules=[]),
        obj("ServiceAccount", "shop"),
        obj("Namespace", NS, namespace=""),
    ]
