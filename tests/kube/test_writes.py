"""Every field the controllers write on objects users keep in Git is declared in
``tidewise.kube.api.writes.WRITES``: each controller is run against an in-memory API and each
of its patches is held to the list, and a write added in a module the list does not know of
fails here (docs/argocd.md)."""

import ast
import asyncio
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.kube.controllers.fakes import FakeClient, Wrapped, fresh_metrics
from tests.kube.controllers.test_cronhpa import T0, UP, Clock, cronhpa
from tests.kube.controllers.test_elastic import Rig, scaler
from tidewise.kube.api.writes import EVERY, QUEUE_ANNOTATIONS, WRITES, Write, writes_of
from tidewise.kube.controllers.cronhpa import CronHpaController
from tidewise.kube.controllers.recommendation import RecommendationController
from tidewise.kube.jobs.controller import suspend_patch
from tidewise.kube.jobs.observe import ADMITTED, POSITION, REASON

KUBE = Path(__file__).resolve().parents[2] / "tidewise/kube"
# where tidewise patches objects that are not its own (status patches of its own objects and
# the Events it posts aside); the provisioner's, extender's and device plugin's writes go to
# Nodes, Pods and Bindings, which are not kept in Git
WRITING_MODULES = {
    "controllers/targets.py",
    "controllers/kserve.py",
    "controllers/recommendation.py",
    "jobs/controller.py",
}
# where tidewise patches objects that are its own: the Karpenter controller server-side applies
# the NodePools and NodeOverlays it renders (labelled managed-by tidewise), whose source is the
# render, not Git; and an ElasticScaler's placeholder Deployment, which it creates and owns
OWN_OBJECT_MODULES = {"controllers/karpenter.py", "controllers/headroom.py"}
# where tidewise patches Pods, which their ReplicaSets make and Git never holds: a serverless
# burst adds the virtual node's toleration to a pending pod
POD_MODULES = {"controllers/serverless_burst.py"}
# where tidewise annotates Nodes, which are not kept in Git: the defragmenter's GPU reservation
NODE_MODULES = {"controllers/defrag.py"}


class Recording(FakeClient):
    """The in-memory API, keeping (group, kind, body) of every write to a user's object."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.written: list[tuple[str, str, dict]] = []

    async def patch(self, res, name, body, **kwargs):
        info = res._api_info
        if info.action == "scale":
            group, kind = info.parent.group, info.parent.kind
        else:
            group, kind = info.resource.group, info.resource.kind
        if info.action != "status":
            self.written.append((group, kind, body))
        kind_name = self.kind(res)
        if kind_name in ("Deployment", "StatefulSet"):
            return  # a template patch: nothing to keep
        await super().patch(res, name, body, **kwargs)

    async def get(self, res, name, namespace=None):
        kind = self.kind(res)
        if kind in self.objects and kind not in ("Scale",):
            return Wrapped(next(o for o in self.objects[kind] if o["metadata"]["name"] == name))
        return await super().get(res, name, namespace)

    async def list(self, res, **kwargs):
        async for item in super().list(res, **kwargs):
            pod = self.kind(res) == "Pod"
            yield SimpleNamespace(metadata=SimpleNamespace(**item["metadata"])) if pod else item

    async def create(self, obj):
        pass  # Events


def leaves(body, prefix=()):
    """The written leaves of a merge or strategic-merge patch; a list item's ``name`` is
    its merge key, not a write."""
    if isinstance(body, dict):
        return [leaf for key, value in body.items() for leaf in leaves(value, (*prefix, key))]
    if isinstance(body, list):
        return [
            leaf
            for i, item in enumerate(body)
            for leaf in leaves(
                {k: v for k, v in item.items() if k != "name"} if isinstance(item, dict) else item,
                (*prefix, str(i)),
            )
        ]
    return [prefix]


def undeclared(controller, written):
    declared = writes_of(controller)
    return [
        (group, kind, leaf)
        for group, kind, body in written
        for leaf in leaves(body)
        if not any(w.group == group and w.kind == kind and w.covers(leaf) for w in declared)
    ]


def test_cronhpa_writes_replicas_and_an_hpa_s_range_only():
    client = Recording(
        {
            "CronHorizontalPodAutoscaler": [
                cronhpa("web", [UP]),
                cronhpa("floor", [UP], kind="HorizontalPodAutoscaler", target="api-hpa"),
            ]
        }
    )
    client.replicas[("Deployment", "web")] = 2
    client.replicas[("Deployment", "api")] = 1
    client.hpas["api-hpa"] = {"min": 2, "max": 4, "target": "api"}
    clock = Clock(T0)
    cron = CronHpaController(client, fresh_metrics(), period_s=1.0, clock=clock)
    for at in (T0, T0 + timedelta(hours=1)):
        clock.at = at
        asyncio.run(cron.sync())
    kinds = {(g, k) for g, k, _ in client.written}
    assert kinds == {("apps", "Deployment"), ("autoscaling", "HorizontalPodAutoscaler")}
    assert undeclared("cronhpa", client.written) == []


def test_elasticscaler_writes_replicas_only():
    rig = Rig(scaler(), value=70.0)
    recording = Recording(rig.client.objects, replicas=rig.client.replicas)
    rig.client = recording
    rig.new_controller()
    rig.controller.client = recording
    rig.controller.targets.client = recording
    rig.sync()
    assert [(g, k) for g, k, _ in recording.written] == [("apps", "Deployment")]
    assert undeclared("elasticscaler", recording.written) == []


def test_resourcerecommendation_on_rollout_writes_requests_only():
    obj = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
        "spec": {"targetRef": {"kind": "Deployment", "name": "web"}, "updateMode": "OnRollout"},
    }
    containers = [{"name": "main", "resources": {"requests": {"cpu": "4", "memory": "8Gi"}}}]
    workload = {
        "metadata": {"name": "web", "namespace": "shop", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {}}},
    }
    workload["spec"]["template"]["spec"]["containers"] = containers
    usage = {
        "metadata": {"name": "web-1", "namespace": "shop"},
        "timestamp": "2026-11-28T08:00:00Z",
        "window": "60s",
        "containers": [{"name": "main", "usage": {"cpu": "250m", "memory": "512Mi"}}],
    }
    client = Recording(
        {
            "ResourceRecommendation": [obj],
            "Deployment": [workload],
            "Pod": [{"metadata": {"name": "web-1", "namespace": "shop"}}],
            "PodMetrics": [usage],
        }
    )
    at = {"now": T0.timestamp()}
    controller = RecommendationController(client, fresh_metrics(), None, clock=lambda: at["now"])
    asyncio.run(controller.sync())  # remembers the generation
    workload["metadata"]["generation"] = 2  # someone else started a rollout
    at["now"] += 60
    asyncio.run(controller.sync())
    assert [(g, k) for g, k, _ in client.written] == [("apps", "Deployment")]
    assert undeclared("resourcerecommendation", client.written) == []


@pytest.mark.parametrize(("group", "kind"), [("batch", "Job"), ("kubeflow.org", "PyTorchJob")])
def test_the_training_queue_writes_suspend_and_its_annotations_only(group, kind):
    assert set(QUEUE_ANNOTATIONS) == {ADMITTED, POSITION, REASON}
    admit = suspend_patch(kind, False) | {
        "metadata": {"annotations": dict.fromkeys((ADMITTED, POSITION, REASON), "x")}
    }
    assert undeclared("training-queue", [(group, kind, admit)]) == []


def test_an_undeclared_write_is_found():
    """The check can fail: an image written by a controller is not in the list."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x"}]}}}}
    assert undeclared("resourcerecommendation", [("apps", "Deployment", patch)]) == [
        ("apps", "Deployment", ("spec", "template", "spec", "containers", "0", "image"))
    ]


def non_status_patches(path: Path) -> list[int]:
    """Lines of a client's ``patch``, ``apply`` and ``replace`` calls whose resource is not a
    ``.Status`` subresource."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("patch", "apply", "replace") or not node.args:
            continue
        owner = node.func.value
        named = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if named not in ("client", "_client"):
            continue
        first = node.args[0]
        if isinstance(first, ast.Attribute) and first.attr == "Status":
            continue
        found.append(node.lineno)
    return found


def test_only_the_declared_modules_write_users_objects():
    writing = {
        str(path.relative_to(KUBE))
        for part in ("controllers", "jobs")
        for path in (KUBE / part).rglob("*.py")
        if non_status_patches(path)
    }
    assert writing == WRITING_MODULES | OWN_OBJECT_MODULES | POD_MODULES | NODE_MODULES


def test_paths_read_as_argo_cd_reads_them():
    requests = next(w for w in WRITES if EVERY in w.path)
    assert requests.pointer() is None
    assert requests.jq() == ".spec.template.spec.containers[].resources.requests"
    annotation = Write("x", "batch", "Job", ("metadata", "annotations", "tidewise.io/admitted"))
    assert annotation.pointer() == "/metadata/annotations/tidewise.io~1admitted"
    assert annotation.jq() == '.metadata.annotations["tidewise.io/admitted"]'
