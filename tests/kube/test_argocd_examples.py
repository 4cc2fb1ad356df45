"""deploy/argocd: the example Applications ignore exactly the fields tidewise's controllers
write, read from the code (the suspend patches and annotation names), so that a new field
without its ignoreDifferences entry fails here."""

from pathlib import Path

import yaml

from tidewise.kube.jobs.controller import suspend_patch
from tidewise.kube.jobs.observe import ADMITTED, POSITION, REASON

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy/argocd"


def applications() -> dict[str, dict]:
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    apps = [yaml.safe_load((FOLDER / name).read_text()) for name in kustomization["resources"]]
    assert all(
        a["apiVersion"] == "argoproj.io/v1alpha1" and a["kind"] == "Application" for a in apps
    )
    return {a["metadata"]["name"]: a for a in apps}


def pointers(patch: dict, prefix: str = "") -> list[str]:
    """JSON pointers (RFC 6901) of a merge patch's leaves."""
    found = []
    for key, value in patch.items():
        path = f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}"
        found += pointers(value, path) if isinstance(value, dict) else [path]
    return found


def test_the_operator_application_deploys_the_operator_base():
    app = applications()["tidewise"]
    assert app["spec"]["source"]["path"] == "deploy/operator"
    assert (ROOT / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()


def test_the_workload_application_ignores_what_tidewise_writes_and_respects_it():
    app = applications()["inference"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    ignored = {
        (d["group"], d["kind"]): set(d["jsonPointers"]) for d in app["spec"]["ignoreDifferences"]
    }
    annotations = {ADMITTED: "x", POSITION: "1", REASON: "x"}
    for group, kind in (("batch", "Job"), ("kubeflow.org", "PyTorchJob")):
        written = suspend_patch(kind, False) | {"metadata": {"annotations": annotations}}
        assert ignored[group, kind] == set(pointers(written))
    for kind in ("Deployment", "StatefulSet"):  # /scale writes
        assert ignored["apps", kind] == {"/spec/replicas"}
    assert ignored["autoscaling", "HorizontalPodAutoscaler"] == {"/spec/minReplicas"}
