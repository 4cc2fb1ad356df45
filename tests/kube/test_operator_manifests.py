"""deploy/operator: the kustomize base loads, and its RBAC grants what the code calls, no more.

The calls are found in the source (every ``client.<verb>(...)`` of the provider, the
controllers, the runtime layer they share and the operator), so a new API call without its
rule, or a rule left behind, fails here."""

from pathlib import Path

import yaml

from tests.kube.rbac import client_calls
from tests.kube.rbac import granted as rules_granted
from tidewise.kube.controllers.recommendation import TARGETS
from tidewise.kube.jobs.controller import KINDS

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/operator"
SOURCES = [
    *sorted((ROOT / "tidewise/kube/api").glob("*.py")),  # Events, the Lease, controller passes
    *sorted((ROOT / "tidewise/kube/provider").glob("*.py")),
    *sorted((ROOT / "tidewise/kube/controllers").glob("*.py")),
    ROOT / "tidewise/kube/jobs/controller.py",  # --training-queue
    ROOT / "tidewise/kube/operator.py",
]
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create", "delete": "delete"}
VERBS |= {"patch": "patch", "replace": "update"}
# what the first argument of a client call names: a resource class or a local variable
RESOURCES = {"Node": "nodes", "Pod": "pods", "Lease": "leases", "node_object": "nodes"}
RESOURCES |= {"eviction": "pods/eviction", "fresh": "leases", "lease": "leases"}
RESOURCES |= {"posted": "events"}
RESOURCES |= {"CronHpa": "cronhorizontalpodautoscalers", "PodMetrics": "pods"}
RESOURCES |= {"CronHpa.Status": "cronhorizontalpodautoscalers/status"}
RESOURCES |= {"ElasticScalerResource": "elasticscalers"}
RESOURCES |= {"ElasticScalerResource.Status": "elasticscalers/status"}
RESOURCES |= {"HorizontalPodAutoscaler": "horizontalpodautoscalers"}
RESOURCES |= {"ResourceRecommendationResource": "resourcerecommendations"}
RESOURCES |= {"ResourceRecommendationResource.Status": "resourcerecommendations/status"}
# names that stand for several resources: a ResourceRecommendation's target
# (recommendation.py TARGETS), the kinds one controller pass lists (api/loop.py), the training
# queue's job kinds (tidewise/kube/jobs/controller.py KINDS)
MULTI = {
    "spec.kind": tuple(f"{kind.lower()}s" for kind in TARGETS),
    "resource": ("cronhorizontalpodautoscalers", "elasticscalers", "resourcerecommendations"),
    "kind": tuple(kind._api_info.plural for kind in KINDS),
}
# a scale target's /scale: the built-in scalable kinds (tidewise/kube/controllers/resources.py)
SCALE = ("deployments", "statefulsets", "replicasets", "replicationcontrollers")
# granted beyond the calls: read access the provisioner's listings imply (get; watch on
# nodes, which it lists each round)
EXTRA = {("nodes", "get"), ("nodes", "watch"), ("pods", "get")}


def calls() -> set[tuple[str, str]]:
    found = set()
    for path, method, name in client_calls(SOURCES):
        verb = VERBS[method]
        if name == "target_scale":
            found |= {(f"{kind}/scale", verb) for kind in SCALE}
            continue
        if name in MULTI:
            found |= {(resource, verb) for resource in MULTI[name]}
            continue
        assert name in RESOURCES, f"{path.name}: client.{method}({name}) is unmapped"
        found.add((RESOURCES[name], verb))
    return found


def documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        path = BASE / resource
        if path.is_dir():  # a base of its own (../crds)
            inner = yaml.safe_load((path / "kustomization.yaml").read_text())["resources"]
            files = [path / name for name in inner]
        else:
            files = [path]
        for file in files:
            docs += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return docs


def granted(kind: str) -> set[tuple[str, str]]:
    return rules_granted(documents(), kind)


def test_the_base_holds_what_a_deployment_needs():
    kinds = sorted(d["kind"] for d in documents())
    expected = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role"}
    crds = ["CustomResourceDefinition"] * 3  # CronHPA, ElasticScaler, ResourceRecommendation
    assert kinds == sorted([*expected, "RoleBinding", "Deployment", *crds])
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
    assert ("deployments/scale", "patch") in used and ("elasticscalers/status", "patch") in used
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
