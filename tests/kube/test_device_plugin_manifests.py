"""deploy/device-plugin: the kustomize base loads, its objects are valid Kubernetes objects,
its RBAC grants what the plugin calls and no more, and the DaemonSet mounts what the plugin's
defaults expect."""

import ast
from pathlib import Path

import yaml
from lightkube.codecs import from_dict

from tidewise.kube.deviceplugin import PluginSettings
from tidewise.kube.deviceplugin.podresources import SOCKET

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/device-plugin"
SOURCES = sorted((ROOT / "tidewise/kube/deviceplugin").glob("*.py"))
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create", "patch": "patch"}


def documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((BASE / resource).read_text()) if d]
    return docs


def calls() -> set[tuple[str, str]]:
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if ast.unparse(node.func.value) == "client" and node.func.attr in VERBS:
                resource = ast.unparse(node.args[0])
                assert resource == "Pod", f"{path.name}: client.{node.func.attr}({resource})"
                found.add(("pods", VERBS[node.func.attr]))
    return found


def test_every_object_is_a_valid_kubernetes_object():
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
        "Namespace",
        "ServiceAccount",
    ]
    for doc in documents():
        assert from_dict(doc).to_dict() == doc  # lightkube's typed models read it whole


def test_rbac_grants_exactly_what_the_plugin_calls():
    assert calls() == {("pods", "list")}
    (role,) = [d for d in documents() if d["kind"] == "ClusterRole"]
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert granted == calls()


def test_the_daemonset_mounts_what_the_plugin_uses_by_default():
    (daemonset,) = [d for d in documents() if d["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:2] == ["tidewise", "device-plugin"]
    assert pod["serviceAccountName"] == "tidewise-device-plugin"
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    defaults = PluginSettings()
    for folder in (
        defaults.folder,
        SOCKET.parent,
        defaults.mps_root,
        defaults.hami_library.parent,
        Path("/dev/shm"),
        Path("/tmp/vgpulock"),
    ):
        assert str(folder) in mounted, folder
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    by_path = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert by_path["/dev/shm"] == f"{defaults.mps_root}/shm"  # the clients' /dev/shm too
    for path in ("/var/lib/kubelet/device-plugins", "/run/tidewise/mps", "/tmp/vgpulock"):
        assert by_path[path] == path  # host paths the plugin hands to the kubelet as they are
