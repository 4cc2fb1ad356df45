"""deploy/operator: the kustomize base loads, and its RBAC grants what the code calls, no more.

The calls are found in the source (every ``client.<verb>(...)`` of the provider and the
operator), so a new API call without its rule, or a rule left behind, fails here."""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/operator"
SOURCES = [
    *sorted((ROOT / "tidewise/kube/provider").glob("*.py")),
    ROOT / "tidewise/kube/operator.py",
]
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create", "delete": "delete"}
VERBS |= {"patch": "patch", "replace": "update"}
# what the first argument of a client call names: a resource class or a local variable
RESOURCES = {"Node": "nodes", "Pod": "pods", "Lease": "leases", "node_object": "nodes"}
RESOURCES |= {"eviction": "pods/eviction", "fresh": "leases", "lease": "leases"}
RESOURCES |= {"posted": "events"}
# granted beyond the calls: read access the provisioner's listings imply (get; watch on
# nodes, which it lists each round)
EXTRA = {("nodes", "get"), ("nodes", "watch"), ("pods", "get")}


def calls() -> set[tuple[str, str]]:
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = ast.unparse(node.func.value)
            if not owner.endswith("client") or node.func.attr not in VERBS or not node.args:
                continue
            first = node.args[0]
            name = ast.unparse(first.func if isinstance(first, ast.Call) else first)
            assert name in RESOURCES, f"{path.name}: client.{node.func.attr}({name}) is unmapped"
            found.add((RESOURCES[name], VERBS[node.func.attr]))
    return found


def documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((BASE / resource).read_text()) if d]
    return docs


def granted(kind: str) -> set[tuple[str, str]]:
    return {
        (resource, verb)
        for doc in documents()
        if doc["kind"] == kind
        for rule in doc["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_base_holds_what_a_deployment_needs():
    kinds = sorted(d["kind"] for d in documents())
    expected = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role"}
    assert kinds == sorted(expected | {"RoleBinding", "Deployment"})
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tidewise-operator"
    (container,) = pod["containers"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"


def test_rbac_grants_exactly_what_the_code_calls():
    used = calls()
    assert ("nodes", "create") in used and ("pods/eviction", "create") in used  # the scan works
    cluster, leader = granted("ClusterRole"), granted("Role")
    leases = {(r, v) for r, v in used if r == "leases"}
    assert leader == leases, "the Role is for the leader-election Lease alone"
    assert cluster == (used - leases) | EXTRA
    assert not any(r == "leases" for r, _ in cluster), "no Lease anywhere but its namespace"
    assert not any("*" in r or v == "*" for r, v in cluster | leader)


def test_the_image_runs_as_the_user_and_command_the_deployment_expects():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    user = pod["securityContext"]["runAsUser"]
    assert f"USER {user}:{user}" in dockerfile.splitlines()
    assert pod["containers"][0]["command"][:2] == ["tidewise", "operator"]
    assert 'ENTRYPOINT ["tidewise"]' in dockerfile
