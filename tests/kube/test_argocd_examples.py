"""deploy/argocd: the example Applications ignore exactly the fields tidewise's controllers
write: the ones ``tidewise.kube.api.writes.WRITES`` declares (tests/kube/test_writes.py holds
the controllers' patches to that list), so a field added to the code without its entry fails
there, and one added to the list without its ignoreDifferences entry fails here."""

from pathlib import Path

import yaml

from tidewise.kube.api.writes import WRITES

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy/argocd"


def applications() -> dict[str, dict]:
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    apps = [yaml.safe_load((FOLDER / name).read_text()) for name in kustomization["resources"]]
    assert all(
        a["apiVersion"] == "argoproj.io/v1alpha1" and a["kind"] == "Application" for a in apps
    )
    return {a["metadata"]["name"]: a for a in apps}


def ignored() -> dict[tuple[str, str], set[str]]:
    """What the workload Application ignores, per (group, kind): JSON pointers and jq paths."""
    found: dict[tuple[str, str], set[str]] = {}
    for entry in applications()["inference"]["spec"]["ignoreDifferences"]:
        paths = found.setdefault((entry.get("group", ""), entry["kind"]), set())
        paths |= set(entry.get("jsonPointers", [])) | set(entry.get("jqPathExpressions", []))
    return found


def declared() -> dict[tuple[str, str], set[str]]:
    """The same, from the declared writes: a pointer where one can say it, else jq."""
    found: dict[tuple[str, str], set[str]] = {}
    for write in WRITES:
        found.setdefault((write.group, write.kind), set()).add(write.pointer() or write.jq())
    return found


def test_the_operator_application_deploys_the_operator_base():
    app = applications()["tidewise"]
    assert app["spec"]["source"]["path"] == "deploy/operator"
    assert (ROOT / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()


def test_the_workload_application_ignores_every_declared_write_and_respects_it():
    """Before: the requests ResourceRecommendation writes on a rollout, an HPA's maxReplicas
    and the replicas of ReplicaSets and ReplicationControllers were missing."""
    app = applications()["inference"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert ignored() == declared()
    requests = ".spec.template.spec.containers[].resources.requests"
    assert requests in ignored()["apps", "Deployment"]


def test_the_doc_and_the_examples_cite_tests_that_exist():
    """Before: both pointed at tests/deploy/test_argocd.py, which never existed."""
    texts = [ROOT / "docs/argocd.md", *sorted(FOLDER.glob("*.yaml"))]
    words = {w.strip("`.,();:") for path in texts for w in path.read_text().split()}
    cited = {w.split("::")[0] for w in words if w.startswith("tests/")}
    assert cited and {c for c in cited if not (ROOT / c).is_file()} == set()
