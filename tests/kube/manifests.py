"""deploy/operator as kustomize renders it, read without kustomize: the base's resources
(``../crds`` through its own kustomization), then the components enabled (the listed ones,
or the ones a test names), optionally moved into another namespace (kustomize's
``namespace:``), as the manifests test and the end-to-end tests apply them."""

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/operator"
NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Deployment"}


def _load(kustomization: Path) -> dict[str, Any]:
    return yaml.safe_load((kustomization / "kustomization.yaml").read_text())


def _files(folder: Path, names: list[str]) -> list[Path]:
    files = []
    for name in names:
        path = folder / name
        files += _files(path, _load(path)["resources"]) if path.is_dir() else [path]
    return files


def listed_components() -> list[str]:
    """The components the shipped kustomization enables, by name."""
    return [Path(c).name for c in _load(BASE).get("components", [])]


def documents(components: list[str] | None = None, namespace: str | None = None) -> list[dict]:
    """Every object of deploy/operator with ``components`` (default: the listed ones), in
    ``namespace`` if given (namespaced objects and ServiceAccount subjects)."""
    chosen = listed_components() if components is None else components
    files = _files(BASE, _load(BASE)["resources"])
    for name in chosen:
        folder = BASE / "components" / name
        files += _files(folder, _load(folder)["resources"])
    docs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    return [_moved(d, namespace) for d in docs] if namespace else docs


def base_documents(folder: Path) -> list[dict]:
    """Every object of another kustomize base of deploy/ (deploy/extender,
    deploy/device-plugin...), its resources as its kustomization lists them."""
    files = _files(folder, _load(folder)["resources"])
    return [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]


def _moved(doc: dict, namespace: str) -> dict:
    doc = copy.deepcopy(doc)
    if doc["kind"] in NAMESPACED:
        doc["metadata"]["namespace"] = namespace
    for subject in doc.get("subjects", []):
        if subject.get("kind") == "ServiceAccount":
            subject["namespace"] = namespace
    return doc


def component_file(component: str, name: str) -> dict[str, dict]:
    """The objects of one file of a component, by kind."""
    text = (BASE / "components" / component / name).read_text()
    return {d["kind"]: d for d in yaml.safe_load_all(text)}


def pod_webhook(component: str, path: str) -> dict:
    """The one webhook of ``component``'s webhook.yaml, checked for what every pod webhook of
    the operator shares: pods at their CREATE only, never the system namespaces, reached
    through the component's Service at ``path`` (the path its server serves)."""
    docs = component_file(component, "webhook.yaml")
    (hook,) = docs["MutatingWebhookConfiguration"]["webhooks"]
    assert hook["admissionReviewVersions"] == ["v1"]
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE"] and rule["resources"] == ["pods"]
    (exclude,) = hook["namespaceSelector"]["matchExpressions"]
    assert exclude["operator"] == "NotIn"
    assert {"kube-system", "tidewise-system"} <= set(exclude["values"])
    service = docs["Service"]
    assert hook["clientConfig"]["service"] == {
        "name": service["metadata"]["name"],
        "namespace": "tidewise-system",
        "path": path,
        "port": service["spec"]["ports"][0]["port"],
    }
    return hook
