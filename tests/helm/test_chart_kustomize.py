"""The chart and the kustomize bases are one source: the chart's templates read deploy/'s
files (deploy/helm/tidewise/files links to them), and this test renders the chart and reads
the bases (tests/kube/manifests.py) and finds the same objects, one by one: kinds, names,
RBAC rules, CRDs, the Deployments' pods. The operator's components are those its
configuration runs (enabled_controllers, the function the kustomize test holds the shipped
list to), so a values file enables exactly the RBAC the kustomize components would.

What the chart adds, and this test takes off before comparing: the release's labels, the
operator's configuration ConfigMap (its volume, mount and --config), the scheduler
configuration's ConfigMap, the image's tag and pull policy. What it leaves out: the Namespace
(``helm install --create-namespace`` makes it)."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart import CHART, NAMESPACE, render, values_file
from tests.helm.test_chart import EVERYTHING
from tests.kube.manifests import ROOT, base_documents, documents
from tidewise.cli.compose import OperatorConfig, enabled_controllers
from tidewise.testenv.helm import HelmBuild

RELEASE_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart")
CHART_ONLY = {("ConfigMap", "tidewise-operator"), ("ConfigMap", "tidewise-scheduler-config")}
CONFIG_MOUNT = "config"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())

Key = tuple[str, str]


def kustomize_objects(values: dict[str, Any]) -> dict[Key, dict]:
    """What the kustomize bases hold for ``values``: deploy/operator with the components of
    the controllers its configuration runs (and their patches), deploy/extender,
    deploy/device-plugin and deploy/prometheus as the values enable them."""
    config = OperatorConfig.model_validate(values.get("operator", {}).get("config", {}))
    components = enabled_controllers(config)
    docs = documents(components)
    for component in ("on-demand-base", "colocation"):
        if component in components:
            docs = [patched(d, component) for d in docs]
    if values.get("extender", {}).get("enabled", True):
        docs += base_documents(ROOT / "deploy/extender")
    if values.get("devicePlugin", {}).get("enabled", False):
        docs += base_documents(ROOT / "deploy/device-plugin")
    if values.get("monitoring", {}).get("prometheusRule", {}).get("enabled", False):
        docs += base_documents(ROOT / "deploy/prometheus")
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] != "Namespace"}
    assert len(objects) == len([d for d in docs if d["kind"] != "Namespace"]), "a name twice"
    return objects


def patched(doc: dict, component: str) -> dict:
    """The operator's Deployment with ``component``'s patches applied: a JSON patch's
    ``add`` operations (the only ones they have), a strategic merge patch's containers'
    volume mounts and pod volumes (appended: new names, as kustomize merges them by name)."""
    if (doc["kind"], doc["metadata"]["name"]) != ("Deployment", "tidewise-operator"):
        return doc
    doc = copy.deepcopy(doc)
    folder = ROOT / "deploy/operator/components" / component
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    for patch in kustomization["patches"]:
        body = yaml.safe_load(patch["patch"])
        if isinstance(body, dict):
            merged(doc["spec"]["template"]["spec"], body["spec"]["template"]["spec"])
            continue
        for op in body:
            assert op["op"] == "add", op
            *parents, last = op["path"].strip("/").split("/")
            target = doc
            for token in parents:
                target = target[int(token)] if isinstance(target, list) else target[token]
            if last == "-":
                target.append(op["value"])
            else:
                target[last] = op["value"]
    return doc


def merged(pod: dict, patch: dict) -> None:
    for container in patch.get("containers", []):
        (mine,) = [c for c in pod["containers"] if c["name"] == container["name"]]
        mine.setdefault("volumeMounts", []).extend(container.get("volumeMounts", []))
    pod.setdefault("volumes", []).extend(patch.get("volumes", []))


def chart_objects(helm_binary: HelmBuild, folder: Path, values: dict) -> dict[Key, dict]:
    """What ``helm template`` renders for ``values``, less what the chart adds."""
    rendered = render(helm_binary, values_file(folder, values))
    objects: dict[Key, dict] = {}
    for doc in rendered:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in objects, f"{key} rendered twice"
        if key not in CHART_ONLY:
            objects[key] = without_release(doc)
    return objects


def without_release(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    labels = doc["metadata"]["labels"]
    for label in RELEASE_LABELS:
        del labels[label]
    if not labels:
        del doc["metadata"]["labels"]
    if doc["kind"] in ("Deployment", "DaemonSet"):
        unconfigured(doc)
    return doc


def unconfigured(workload: dict) -> None:
    """Take off the chart's image, pull policy and configuration file."""
    template = workload["spec"]["template"]
    pod = template["spec"]
    for container in pod["containers"]:
        assert container.pop("image") == f"{VALUES['image']['repository']}:{APP_VERSION}"
        assert container.pop("imagePullPolicy") == VALUES["image"]["pullPolicy"]
        container["image"] = "tidewise"  # the bases' name, which kustomize's images: sets
        command = container["command"]
        if "--config" in command:
            at = command.index("--config")
            del command[at : at + 2]
            container["volumeMounts"] = [
                m for m in container["volumeMounts"] if m["name"] != CONFIG_MOUNT
            ]
            pod["volumes"] = [v for v in pod["volumes"] if v["name"] != CONFIG_MOUNT]
            del template["metadata"]["annotations"]["checksum/config"]
        if container.get("volumeMounts") == []:
            del container["volumeMounts"]
    if pod.get("volumes") == []:
        del pod["volumes"]


CASES = {
    "defaults": {},
    "everything": {**EVERYTHING, "monitoring": {"prometheusRule": {"enabled": True}}},
    "karpenter-and-cost-only": {
        "operator": {
            "config": {
                "controllers": {
                    "cronhpa": False,
                    "elasticscaler": False,
                    "resourcerecommendation": False,
                    "cost": True,
                }
            }
        },
        "extender": {"enabled": False},
    },
    "no-engine": {"operator": {"config": {"nodes": {"engine": "none"}}}},
}


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
def test_the_chart_renders_the_kustomize_bases_objects(helm_binary, tmp_path, values):
    chart = chart_objects(helm_binary, tmp_path, values)
    bases = kustomize_objects(values)
    assert sorted(chart) == sorted(bases)
    for key, expected in bases.items():
        assert chart[key] == expected, key


def test_the_chart_image_is_the_kustomize_bases_image():
    for base in ("operator", "extender", "device-plugin"):
        kustomization = yaml.safe_load((ROOT / "deploy" / base / "kustomization.yaml").read_text())
        assert kustomization["images"][0]["newName"] == VALUES["image"]["repository"], base


def test_another_namespace_moves_every_namespaced_object_and_reference(helm_binary, tmp_path):
    """``--namespace`` plays kustomize's ``namespace:``: objects, ServiceAccount subjects,
    the Lease flags and the extender's Service name in the scheduler configuration."""
    rendered = render(helm_binary, values_file(tmp_path, EVERYTHING), namespace="gpu-ops")
    text = yaml.safe_dump_all(rendered)
    assert NAMESPACE not in text
    for doc in rendered:
        for subject in doc.get("subjects", []):
            assert subject["namespace"] == "gpu-ops"
    scheduler = next(d for d in rendered if d["metadata"]["name"] == "tidewise-scheduler-config")
    assert (
        "https://tidewise-extender.gpu-ops.svc:8888"
        in scheduler["data"]["kube-scheduler-config.yaml"]
    )
