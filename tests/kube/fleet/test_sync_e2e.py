"""Two real clusters: an application of a dozen objects is copied from A to B in dependency
order, B's API server is stopped in the middle, and the same command resumes the sync without
applying anything twice; a finished sync run again changes nothing."""

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import LoadResourceError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, PersistentVolume, PersistentVolumeClaim
from lightkube.types import PatchType

from tests.cli.run import tidewise
from tests.controlplane import progress
from tests.fleet.app import DB_VOLUMES
from tests.kube.kwok import TOLERATE_FAKE, condition, fake_node, tidewise_process, wait_for
from tidewise.kube.fleet.read import DEFAULT_KINDS, resource_for_manifest
from tidewise.testenv import Cluster, down, start_component, stop_component, up
from tidewise.testenv.build import Binaries

pytestmark = pytest.mark.e2e

SYNC_DEADLINE = 600.0  # a whole sync on a loaded 2-core machine, two control planes
NODE_LABEL = "fleet-e2e"


@pytest.fixture(scope="module")
def cluster_b(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second control plane beside the session's, without a scheduler extender."""
    running = up(tmp_path_factory.mktemp("testenv-b"), binaries, progress)
    try:
        yield running
    finally:
        down(running.folder)


def client(cluster: Cluster) -> Client:
    return Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="tidewise-tests")


def add_node_and_volume(kube: Client, name: str, storage_class: str) -> None:
    """A kwok node for the pods and a static hostPath volume for the claim (no provisioner)."""
    kube.create(fake_node(name, {}, {NODE_LABEL: "yes"}))
    wait_for(f"{name} Ready", lambda: condition(kube.get(Node, name), "Ready"))
    kube.create(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": storage_class,
                    "hostPath": {"path": f"/tmp/{name}"},
                },
            }
        )
    )


def workload(kind: str, name: str, depends_on: str = "", **pod: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [{"name": "main", "image": f"registry-a.example/{name}:1"}],
            "nodeSelector": {NODE_LABEL: "yes"},
            "tolerations": [TOLERATE_FAKE.to_dict()],
            **pod,
        },
    }
    spec: dict[str, Any] = {"template": template}
    if kind == "Job":
        template["spec"]["restartPolicy"] = "Never"
    else:
        spec |= {"replicas": 2, "selector": {"matchLabels": {"app": name}}}
    annotations = {"tidewise.io/depends-on": depends_on} if depends_on else {}
    api = "batch/v1" if kind == "Job" else "apps/v1"
    meta = {"name": name, "annotations": annotations}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def core(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **fields}


def application(namespace: str) -> list[dict[str, Any]]:
    """A dozen objects: identity, RBAC, configuration, a claim, services, two Deployments (api
    declared to need db), a Job that needs db on both clusters."""
    rbac = "rbac.authorization.k8s.io"
    objects = [
        core("ServiceAccount", "shop"),
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "shop-reads"},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "shop", "namespace": namespace}],
        },
        core("ConfigMap", "settings", data={"a": "1"}),
        core("ConfigMap", "api-env", data={"b": "2"}),
        core("Secret", "creds", stringData={"pw": "x"}),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local-a",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        *(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": port}]},
            }
            for name, port in (("db", 5432), ("api", 80))
        ),
        workload(
            "Deployment",
            "db",
            volumes=DB_VOLUMES,
        ),
        workload(
            "Deployment",
            "api",
            "Deployment/db",
            serviceAccountName="shop",
            containers=[
                {
                    "name": "main",
                    "image": "registry-a.example/api:1",
                    "envFrom": [
                        {"configMapRef": {"name": "api-env"}},
                        {"secretRef": {"name": "creds"}},
                    ],
                }
            ],
        ),
        workload("Job", "migrate", "Deployment/db, source:Deployment/db"),
    ]
    for manifest in objects:
        manifest["metadata"]["namespace"] = namespace
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *objects]


def live_objects(kube: Client, namespace: str) -> dict[str, dict[str, Any]]:
    """Every copyable object of the namespace on ``kube``'s cluster, by ``Kind/name``."""
    found = {}
    for resource in DEFAULT_KINDS:
        info = resource._api_info.resource
        if info.kind == "Namespace":
            items = [kube.get(resource, namespace)]
        else:
            items = list(kube.list(resource, namespace=namespace))
        for obj in items:
            meta = obj.metadata
            if meta.ownerReferences or meta.name in ("default", "kube-root-ca.crt"):
                continue
            found[f"{info.kind}/{meta.name}"] = {
                "resourceVersion": meta.resourceVersion,
                "created": meta.creationTimestamp,
            }
    return found


def run_sync(log: Path, *args: str, deadline: float = SYNC_DEADLINE) -> tuple[int, float]:
    started = time.monotonic()
    with tidewise_process(log, "fleet", "sync", *args) as process:
        code = process.wait(timeout=deadline)
    return code, time.monotonic() - started


def record(run_file: Path) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in json.loads(run_file.read_text())["steps"]}


@dataclass
class Replication:
    source_ns: str
    target_ns: str
    source: Client
    target: Client
    run_file: Path
    log: Path
    args: tuple[str, ...]
    first_run: dict[str, dict[str, Any]]  # the run file when B's API server went away
    before_resume: dict[str, dict[str, Any]]  # B's objects just before the resume
    interrupted_at: str
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def replication(
    cluster: Cluster, cluster_b: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replication]:
    """The app on A; a clean sync to B (timed); then a sync that loses B's API server at db's
    gate and is resumed by the same command."""
    folder = tmp_path_factory.mktemp("fleet")
    source, target = client(cluster), client(cluster_b)
    suffix = uuid.uuid4().hex[:6]
    source_ns, target_ns, clean_ns = f"shop-{suffix}", f"shop-b-{suffix}", f"shop-c-{suffix}"
    add_node_and_volume(source, f"fleet-a-{suffix}", "local-a")
    add_node_and_volume(target, f"fleet-b-{suffix}", "local-b")
    add_node_and_volume(target, f"fleet-c-{suffix}", "local-b")
    for manifest in application(source_ns):
        source.apply(resource_for_manifest(source, manifest).from_dict(manifest), force=True)
    wait_for(
        "db available on A",
        lambda: condition(source.get(Deployment, "db", namespace=source_ns), "Available"),
        SYNC_DEADLINE,
    )
    # the static volume binds on this control plane (the PV controller runs in the manager)
    assert source.get(PersistentVolumeClaim, "data", namespace=source_ns).status.phase == "Bound"

    def transform(to: str) -> Path:
        path = folder / f"transform-{to}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "namespaces": {source_ns: to},
                    "images": {"registry-a.example/": "registry-b.example/"},
                    "storageClasses": {"local-a": "local-b"},
                    "replicas": {"Deployment/api": 3},
                }
            )
        )
        return path

    common = ("--source", str(cluster.kubeconfig), "--target", str(cluster_b.kubeconfig))
    common += ("-n", source_ns, "--timeout", "300")
    log = folder / "sync.log"
    code, clean_s = run_sync(
        log, *common, "--transform", str(transform(clean_ns)), "--run-file", str(folder / "c.json")
    )
    assert code == 0, log.read_text()

    run_file = folder / "run.json"
    args = (*common, "--transform", str(transform(target_ns)), "--run-file", str(run_file))
    args += ("--api-deadline", "8")
    db = f"Deployment/{target_ns}/db"
    started = time.monotonic()
    with tidewise_process(log, "fleet", "sync", *args) as process:
        wait_for(
            "the sync to reach db's gate",
            lambda: run_file.exists() and record(run_file)[db]["status"] in ("running", "done"),
            SYNC_DEADLINE,
            poll_s=0.05,
        )
        stop_component(cluster_b.folder, "kube-apiserver")
        code = process.wait(timeout=SYNC_DEADLINE)
    first_s = time.monotonic() - started
    assert code == 2, log.read_text()
    first_run = record(run_file)
    interrupted_at = next(sid for sid, step in first_run.items() if step["status"] == "failed")
    start_component(cluster_b.folder, "kube-apiserver")
    before_resume = live_objects(target, target_ns)
    code, resume_s = run_sync(log, *args)
    assert code == 0, log.read_text()
    clean_steps = record(folder / "c.json").values()
    steps_s = max(s["ended"] for s in clean_steps) - min(s["started"] for s in clean_steps)
    seconds = {
        "clean sync": clean_s,
        "clean sync, first step start to last step end": steps_s,
        "interrupted run": first_s,
        "resume": resume_s,
    }
    progress(f"fleet: B's API server stopped during step {interrupted_at}")
    yield Replication(
        source_ns,
        target_ns,
        source,
        target,
        run_file,
        log,
        args,
        first_run,
        before_resume,
        interrupted_at,
        seconds,
    )


def stamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def test_the_loss_of_the_api_server_stops_the_sync_naming_the_step(replication):
    step = replication.first_run[replication.interrupted_at]
    assert step["status"] == "failed"
    assert replication.interrupted_at in step["result"]
    assert "did not answer" in step["result"] and "resume" in step["result"]
    assert f"step {replication.interrupted_at}" in replication.log.read_text()


def test_the_resume_applies_nothing_twice(replication):
    steps = record(replication.run_file)
    done_before = [sid for sid, s in replication.first_run.items() if s["status"] == "done"]
    assert len(done_before) >= 8  # namespace, identity, RBAC, config, claim, services
    for sid in done_before:
        assert (steps[sid]["attempts"], steps[sid]["skipped"]) == (1, 1), sid
    assert steps[replication.interrupted_at]["attempts"] == 2
    assert all(s["status"] == "done" for s in steps.values())
    after = live_objects(replication.target, replication.target_ns)
    for sid in (s for s in done_before if not s.startswith("source:")):
        key = f"{sid.split('/')[0]}/{sid.split('/')[-1]}"
        assert after[key] == replication.before_resume[key], key
    assert len(after) == len(application(replication.source_ns))


def test_each_step_started_after_the_one_before_was_ready(replication):
    steps = list(record(replication.run_file).values())
    for before, step in itertools.pairwise(steps):
        assert step["started"] >= before["ended"], (before["id"], step["id"])
    ids = [s["id"] for s in steps]
    ns = replication.target_ns
    order = [
        f"Namespace/{ns}",
        f"PersistentVolumeClaim/{ns}/data",
        f"Deployment/{ns}/db",
        f"Deployment/{ns}/api",
    ]
    assert [ids.index(i) for i in order] == sorted(ids.index(i) for i in order)
    assert ids.index(f"source:Deployment/{replication.source_ns}/db") < ids.index(
        f"Job/{ns}/migrate"
    )


def test_api_and_the_job_were_created_only_after_db_was_available(replication):
    target, ns = replication.target, replication.target_ns
    db = target.get(Deployment, "db", namespace=ns)
    available_at = next(c for c in db.status.conditions if c.type == "Available").lastTransitionTime
    api = target.get(Deployment, "api", namespace=ns)
    assert stamp(api.metadata.creationTimestamp) >= stamp(available_at)
    steps = record(replication.run_file)
    assert steps[f"Deployment/{ns}/api"]["started"] >= steps[f"Deployment/{ns}/db"]["ended"]
    assert steps[f"Job/{ns}/migrate"]["started"] >= steps[f"Deployment/{ns}/db"]["ended"]
    claim = target.get(PersistentVolumeClaim, "data", namespace=ns)
    assert claim.status.phase == "Bound" and claim.spec.storageClassName == "local-b"
    assert target.get(PersistentVolume, claim.spec.volumeName).spec.storageClassName == "local-b"


def test_transforms_reached_the_target(replication):
    api = replication.target.get(Deployment, "api", namespace=replication.target_ns)
    assert api.spec.replicas == 3
    assert api.spec.template.spec.containers[0].image == "registry-b.example/api:1"
    fields = {entry.manager for entry in api.metadata.managedFields}
    assert "tidewise-fleet" in fields


def test_running_a_finished_sync_again_changes_nothing(replication, tmp_path):
    before = live_objects(replication.target, replication.target_ns)
    steps = record(replication.run_file)
    code, skip_s = run_sync(replication.log, *replication.args)
    assert code == 0, replication.log.read_text()
    for sid, step in record(replication.run_file).items():
        assert step["attempts"] == steps[sid]["attempts"], sid
        assert step["skipped"] == steps[sid]["skipped"] + 1, sid
    # a fresh run file applies every step again: server-side apply of the same manifests
    args = list(replication.args)
    args[args.index("--run-file") + 1] = str(tmp_path / "again.json")
    code, again_s = run_sync(replication.log, *args)
    assert code == 0, replication.log.read_text()
    assert live_objects(replication.target, replication.target_ns) == before
    seconds = {**replication.seconds, "finished, same run file": skip_s, "fresh run file": again_s}
    print("fleet sync seconds:", json.dumps({k: round(v, 1) for k, v in seconds.items()}))


def test_plan_prints_the_order_and_what_the_target_has(replication, cluster):
    args = list(replication.args)
    for option in ("--run-file", "--api-deadline"):
        del args[args.index(option) : args.index(option) + 2]
    out = tidewise("fleet", "plan", *args, "-o", "json", cwd=Path.cwd())
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert [s["id"] for s in plan["steps"]] == list(record(replication.run_file))
    assert all(s["on_target"] for s in plan["steps"] if s["action"] == "apply")
    secret = next(s["manifest"] for s in plan["steps"] if s["kind"] == "Secret")
    assert secret["data"] == {"pw": "(redacted)"}
    table = tidewise(
        "fleet",
        "plan",
        "--source",
        str(cluster.kubeconfig),
        "-n",
        replication.source_ns,
        cwd=Path.cwd(),
    )
    assert table.returncode == 0, table.stderr
    assert "replication plan" in table.stdout and "available" in table.stdout


def widget_crd() -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.fleet.tidewise.io", "labels": {"app": "widgets"}},
        "spec": {
            "group": "fleet.tidewise.io",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def widgets_on_a(source: Client, **gate: str) -> tuple[str, dict[str, Any]]:
    """A namespace on A holding a ConfigMap and a Widget whose gate is its Ready condition
    (``gate``: more ``tidewise.io/`` annotations, e.g. ``{"ready-timeout": "2"}``)."""
    namespace = f"widgets-{uuid.uuid4().hex[:6]}"
    labelled = {"labels": {"app": "widgets"}}
    widget = {
        "apiVersion": "fleet.tidewise.io/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "namespace": namespace,
            **labelled,
            "annotations": {
                "tidewise.io/ready-condition": "Ready",
                **{f"tidewise.io/{key}": value for key, value in gate.items()},
            },
        },
        "spec": {"size": 3},
    }
    config = core("ConfigMap", "widget-settings", data={"size": "3"})
    config["metadata"] |= {"namespace": namespace, **labelled}
    for manifest in (widget_crd(), core("Namespace", namespace), config):
        source.apply(resource_for_manifest(source, manifest).from_dict(manifest), force=True)
    wait_for("Widgets served on A", lambda: _applied(source, widget))
    return namespace, widget


def widget_sync(cluster: Cluster, cluster_b: Cluster, namespace: str, run_file: Path) -> tuple:
    args = ("--source", str(cluster.kubeconfig), "--target", str(cluster_b.kubeconfig))
    kinds = "CustomResourceDefinition,Namespace,ConfigMap,Widget"
    args += ("-n", namespace, "-l", "app=widgets", "--kinds", kinds)
    return ("fleet", "sync", *args, "--run-file", str(run_file), "--timeout", "120")


def set_ready(target: Client, widget: dict[str, Any]) -> None:
    """What the Widget's controller on B would do."""
    resource = resource_for_manifest(target, widget)
    status = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    name, namespace = widget["metadata"]["name"], widget["metadata"]["namespace"]
    target.patch(resource.Status, name, status, namespace=namespace, patch_type=PatchType.MERGE)


def test_a_custom_resource_waits_for_its_crd_and_its_ready_condition(
    replication, cluster, cluster_b, tmp_path
):
    """The CRD goes first (gate: Established), the Widget's step holds until something on B
    (here the test, standing for its controller) sets its condition Ready."""
    namespace, widget = widgets_on_a(replication.source)
    run_file = tmp_path / "widgets.json"
    step = f"Widget/{namespace}/w"
    log = tmp_path / "sync.log"
    with tidewise_process(log, *widget_sync(cluster, cluster_b, namespace, run_file)) as process:
        wait_for(
            "the Widget's gate",
            lambda: run_file.exists() and record(run_file)[step]["status"] == "running",
            SYNC_DEADLINE,
        )
        time.sleep(2)
        assert process.poll() is None and record(run_file)[step]["status"] == "running"
        ready_at = time.time()
        set_ready(replication.target, widget)
        assert process.wait(timeout=SYNC_DEADLINE) == 0, log.read_text()
    steps = record(run_file)
    assert list(steps) == [
        "CustomResourceDefinition/widgets.fleet.tidewise.io",
        f"Namespace/{namespace}",
        f"ConfigMap/{namespace}/widget-settings",
        step,
    ]
    assert steps[step]["ended"] >= ready_at
    assert steps[step]["result"] == "applied; condition: Ready=True"


def test_a_killed_sync_resumes_at_the_step_it_was_in(replication, cluster, cluster_b, tmp_path):
    """A crash (SIGKILL while a gate is waited for) leaves that step running; the same command
    skips what was done and does that step again."""
    namespace, widget = widgets_on_a(replication.source)
    run_file = tmp_path / "widgets.json"
    step = f"Widget/{namespace}/w"
    log = tmp_path / "sync.log"
    command = widget_sync(cluster, cluster_b, namespace, run_file)
    with tidewise_process(log, *command) as process:
        wait_for(
            "the Widget's gate",
            lambda: run_file.exists() and record(run_file)[step]["status"] == "running",
            SYNC_DEADLINE,
        )
        process.kill()
        process.wait()
    crashed = record(run_file)
    assert crashed[step]["status"] == "running" and crashed[step]["ended"] is None
    before = live_objects(replication.target, namespace)
    set_ready(replication.target, widget)
    code, _ = run_sync(log, *command[2:])
    assert code == 0, log.read_text()
    steps = record(run_file)
    for sid in (sid for sid in crashed if sid != step):
        assert crashed[sid]["status"] == "done", sid
        assert (steps[sid]["attempts"], steps[sid]["skipped"]) == (1, 1), sid
    assert (steps[step]["status"], steps[step]["attempts"]) == ("done", 2)
    after = live_objects(replication.target, namespace)
    assert after == before  # Namespace and ConfigMap untouched by the resume


def _applied(kube: Client, manifest: dict[str, Any]) -> bool:
    """Apply ``manifest``; False while its kind is not served yet (a CRD just created)."""
    try:
        kube.apply(resource_for_manifest(kube, manifest).from_dict(manifest), force=True)
    except (ApiError, LoadResourceError):
        return False
    return True


def test_a_gate_that_never_passes_stops_the_sync_after_its_retries(
    replication, cluster, cluster_b, tmp_path
):
    namespace, _ = widgets_on_a(replication.source, **{"ready-timeout": "2", "ready-retries": "1"})
    run_file = tmp_path / "widgets.json"
    log = tmp_path / "sync.log"
    code, _ = run_sync(log, *widget_sync(cluster, cluster_b, namespace, run_file)[2:])
    assert code == 2
    step = f"Widget/{namespace}/w"
    message = f"step {step}: gate condition Ready=True (≤2s, 2 tries) not passed (Ready=absent)"
    assert message in " ".join(log.read_text().split())
    assert "retry" in log.read_text()
    steps = record(run_file)
    assert steps[step]["status"] == "failed" and steps[step]["ended"] - steps[step]["started"] >= 4
    assert [s["status"] for sid, s in steps.items() if sid != step] == ["done"] * 3


def test_a_second_sync_on_a_running_sync_s_run_file_stops_and_leaves_it_whole(
    replication, cluster, cluster_b, tmp_path
):
    """Two writers of one run file: the second sync, started while the first waits at the
    Widget's gate, stops at once naming the first; the first finishes with a whole record."""
    namespace, widget = widgets_on_a(replication.source)
    run_file = tmp_path / "widgets.json"
    step = f"Widget/{namespace}/w"
    command = widget_sync(cluster, cluster_b, namespace, run_file)
    with tidewise_process(tmp_path / "first.log", *command) as first:
        wait_for(
            "the Widget's gate",
            lambda: run_file.exists() and record(run_file)[step]["status"] == "running",
            SYNC_DEADLINE,
        )
        second = tmp_path / "second.log"
        code, _ = run_sync(second, *command[2:])
        assert code == 2
        said = " ".join(second.read_text().split())
        assert f"in use by another tidewise command (pid {first.pid})" in said
        assert record(run_file)[step]["status"] == "running"
        set_ready(replication.target, widget)
        assert first.wait(timeout=SYNC_DEADLINE) == 0, (tmp_path / "first.log").read_text()
    document = json.loads(run_file.read_text())
    assert document["runs"] == 1
    assert all((s["status"], s["attempts"]) == ("done", 1) for s in document["steps"])
