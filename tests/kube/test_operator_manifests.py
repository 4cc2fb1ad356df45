"""deploy/operator: the kustomize base loads, each controller's component grants what that
controller's code calls and no more, and the components enabled are the controllers the
default configuration runs.

The calls are found in the source: from a controller's own module(s), every function
reachable by name through the tidewise.kube modules they import, and in those every
``client.<verb>(...)`` (a method of a shared module counts only for the controllers that
call it: the CronHPA moves an HPA's range, the ElasticScaler does not). So a new API call
without its rule, or a rule left behind, fails here for the component it belongs to."""

import ast
from pathlib import Path

import pytest

from tests.kube.manifests import ROOT, documents, listed_components
from tidewise.cli.compose import CONTROLLERS, OperatorConfig, enabled_controllers
from tidewise.kube.controllers.recommendation import TARGETS
from tidewise.kube.controllers.resources import TEMPLATED
from tidewise.kube.jobs.controller import KINDS

KUBE = ROOT / "tidewise/kube"
# what each component is: the modules of the controller it grants
ENTRIES = {
    "karpenter": [KUBE / "controllers/karpenter.py"],
    "provisioner": sorted((KUBE / "provider").glob("*.py")),
    "cronhpa": [KUBE / "controllers/cronhpa.py"],
    "elasticscaler": [KUBE / "controllers/elastic.py"],
    "resourcerecommendation": [KUBE / "controllers/recommendation.py"],
    "training-queue": [KUBE / "jobs/controller.py"],
    "defrag": [KUBE / "controllers/defrag.py"],
    "on-demand-base": sorted((KUBE / "ondemand").glob("*.py")),
    "serverless-burst": [KUBE / "controllers/serverless_burst.py"],
    "cost": [KUBE / "cost.py"],
    "colocation": sorted((KUBE / "colocation").glob("*.py")),
}
# what every configuration needs (deploy/operator/rbac.yaml): the Lease and Events
BASE_MODULES = {KUBE / "api/lease.py", KUBE / "api/events.py"}
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create", "delete": "delete"}
VERBS |= {"patch": "patch", "replace": "update"}
# what the first argument of a client call names (a resource class or a local variable), as
# group/plural ("" for the core group)
CORE = {"Node": "nodes", "node": "nodes", "node_object": "nodes", "Pod": "pods"}
CORE |= {"placeholder": "pods"}
CORE |= {"eviction": "pods/eviction", "posted": "events"}
RESOURCES = {name: f"/{plural}" for name, plural in CORE.items()}
RESOURCES |= {"Lease": "coordination.k8s.io/leases", "fresh": "coordination.k8s.io/leases"}
RESOURCES |= {"lease": "coordination.k8s.io/leases", "PodMetrics": "metrics.k8s.io/pods"}
RESOURCES |= {"PodDisruptionBudget": "policy/poddisruptionbudgets"}
RESOURCES |= {"ReplicaSet": "apps/replicasets", "StatefulSet": "apps/statefulsets"}
RESOURCES |= {"NodePool": "karpenter.sh/nodepools", "NodeOverlay": "karpenter.sh/nodeoverlays"}
RESOURCES |= {"Deployment": "apps/deployments"}
RESOURCES |= {"Node.Status": "/nodes/status", "PriorityClass": "scheduling.k8s.io/priorityclasses"}
RESOURCES |= {"Machine": "tidewise.io/machines", "record": "tidewise.io/machines"}
RESOURCES |= {"CronHpa": "autoscaling.alibabacloud.com/cronhorizontalpodautoscalers"}
RESOURCES |= {"CronHpa.Status": "autoscaling.alibabacloud.com/cronhorizontalpodautoscalers/status"}
RESOURCES |= {"ElasticScalerResource": "tidewise.io/elasticscalers"}
RESOURCES |= {"ElasticScalerResource.Status": "tidewise.io/elasticscalers/status"}
RESOURCES |= {"HorizontalPodAutoscaler": "autoscaling/horizontalpodautoscalers"}
RESOURCES |= {"InferenceService": "serving.kserve.io/inferenceservices"}
RESOURCES |= {"ResourceRecommendationResource": "tidewise.io/resourcerecommendations"}
RESOURCES |= {"ResourceRecommendationResource.Status": "tidewise.io/resourcerecommendations/status"}
# names that stand for several resources: a ResourceRecommendation's target
# (recommendation.py TARGETS), the training queue's job kinds (jobs/controller.py KINDS),
# Karpenter's kinds (controllers/karpenter.py KINDS), what the kwok provider gives back, a scale
# target's /scale (controllers/resources.py)
MULTI = {
    "spec.kind": tuple(f"apps/{kind.lower()}s" for kind in TARGETS),
    "kind": tuple(f"{k._api_info.resource.group}/{k._api_info.plural}" for k in KINDS),
    "karpenter_kind": ("karpenter.sh/nodepools", "karpenter.sh/nodeoverlays"),
    "machine_or_node": ("tidewise.io/machines", "/nodes"),
    "templated": tuple(f"apps/{kind.lower()}s" for kind in TEMPLATED),
    "target_scale": (
        "apps/deployments/scale",
        "apps/statefulsets/scale",
        "apps/replicasets/scale",
        "/replicationcontrollers/scale",
    ),
}
PASS = "reconcile_all"  # api/loop.py: lists the resource its caller names (second argument)


def _imports(path: Path) -> list[Path]:
    """The tidewise.kube modules ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tidewise.kube"):
            base = ROOT / node.module.replace(".", "/")
            for alias in node.names:
                for candidate in (base / f"{alias.name}.py", base.with_suffix(".py")):
                    if candidate.is_file():
                        found.append(candidate)
                        break
    return found


def _closure(entries: list[Path]) -> list[Path]:
    seen: list[Path] = []
    todo = list(entries)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.append(path)
            todo += _imports(path)
    return seen


def _functions(path: Path) -> list[ast.AST]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def _grant(call: ast.Call) -> set[tuple[str, str]]:
    """The (group/resource, verb) a ``client.<verb>(X, ...)`` call needs."""
    if not (isinstance(call.func, ast.Attribute) and call.args):
        return set()
    owner, verb = ast.unparse(call.func.value), call.func.attr
    if not owner.endswith("client") or verb not in VERBS:
        return set()
    first = call.args[0]
    name = ast.unparse(first.func if isinstance(first, ast.Call) else first)
    if name == "resource":  # api/loop.py's pass: counted where it is called
        return set()
    verbs = {VERBS[verb]}
    if any(k.arg == "patch_type" and "APPLY" in ast.unparse(k.value) for k in call.keywords):
        # a server-side apply creates what is missing, and the API server authorizes that as
        # a create (a ServiceAccount granted patch alone is refused: "cannot create resource")
        verbs.add("create")
    if name in MULTI:
        return {(resource, v) for resource in MULTI[name] for v in verbs}
    assert name in RESOURCES, f"client.{verb}({name}) is unmapped"
    return {(RESOURCES[name], v) for v in verbs}


def calls(entries: list[Path]) -> set[tuple[str, str]]:
    """What the functions reachable from ``entries`` ask of the API server."""
    modules = [m for m in _closure(entries) if m not in BASE_MODULES]
    by_name: dict[str, list[ast.AST]] = {}
    for module in modules:
        for function in _functions(module):
            by_name.setdefault(function.name, []).append(function)
    reached = [f for module in entries for f in _functions(module)]
    found: set[tuple[str, str]] = set()
    done: set[int] = set()
    while reached:
        function = reached.pop()
        if id(function) in done:
            continue
        done.add(id(function))
        for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
            found |= _grant(call)
            callee = _callee(call)
            if callee == PASS:
                found.add((RESOURCES[ast.unparse(call.args[1])], "list"))
            reached += by_name.get(callee or "", [])
    return found


def granted(docs: list[dict], kind: str, name: str | None = None) -> set[tuple[str, str]]:
    return {
        (f"{group}/{resource}", verb)
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_base_holds_what_a_deployment_needs():
    kinds = sorted(d["kind"] for d in documents(components=[]))
    crds = ["CustomResourceDefinition"] * 4  # CronHPA, ElasticScaler, Machine, RR
    expected = ["ClusterRole", "ClusterRoleBinding", "Namespace", "ServiceAccount", "Role"]
    assert kinds == sorted([*expected, "RoleBinding", "Deployment", *crds])
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tidewise-operator"
    (container,) = pod["containers"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"


def test_the_base_grants_the_lease_in_its_namespace_and_events_alone():
    base = documents(components=[])
    used = calls(sorted(BASE_MODULES))
    assert used == {("coordination.k8s.io/leases", v) for v in ("get", "create", "update")} | {
        ("/events", "create")
    }
    assert granted(base, "Role") == {(r, v) for r, v in used if "leases" in r}
    assert granted(base, "ClusterRole") == {("/events", "create")}


@pytest.mark.parametrize("component", sorted(ENTRIES))
def test_each_component_grants_exactly_what_its_controller_calls(component):
    used = calls(ENTRIES[component])
    assert used, "the scan found no call"
    docs = documents(components=[component])
    mine = granted(docs, "ClusterRole", f"tidewise-operator-{component}")
    assert mine == used - {("/events", "create")}
    bindings = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert {b["roleRef"]["name"] for b in bindings} == {
        "tidewise-operator-events",
        f"tidewise-operator-{component}",
    }
    assert not any("*" in r or v == "*" for r, v in mine)
    assert not any("leases" in r for r, _ in mine), "no Lease anywhere but its namespace"


def test_a_shared_helper_grants_only_the_controllers_that_call_it():
    assert ("autoscaling/horizontalpodautoscalers", "patch") in calls(ENTRIES["cronhpa"])
    assert ("autoscaling/horizontalpodautoscalers", "patch") not in calls(ENTRIES["elasticscaler"])
    assert ("/pods/eviction", "create") in calls(ENTRIES["provisioner"])


def test_the_components_enabled_are_the_controllers_the_default_configuration_runs():
    assert set(ENTRIES) == set(CONTROLLERS)
    assert listed_components() == enabled_controllers(OperatorConfig())
    config = OperatorConfig.model_validate(
        {"nodes": {"engine": "kwok"}, "controllers": {"training_queue": True}}
    )
    assert "provisioner" in enabled_controllers(config)
    assert "karpenter" not in enabled_controllers(config), "never two ways to buy a node"
    assert "training-queue" in enabled_controllers(config)
    for engine in ("karpenter", "none"):
        config = OperatorConfig.model_validate({"nodes": {"engine": engine}})
        assert "provisioner" not in enabled_controllers(config)
        assert ("karpenter" in enabled_controllers(config)) == (engine == "karpenter")


def test_the_image_runs_as_the_user_and_command_the_deployment_expects():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    user = pod["securityContext"]["runAsUser"]
    assert f"USER {user}:{user}" in dockerfile.splitlines()
    assert pod["containers"][0]["command"][:2] == ["tidewise", "operator"]
    assert 'ENTRYPOINT ["tidewise"]' in dockerfile
