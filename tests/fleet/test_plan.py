import random

import pytest

from tests.fleet.app import NS, obj, shop, workload
from tidewise.fleet.gates import GateKind
from tidewise.fleet.manifests import ObjectRef, Selection
from tidewise.fleet.plan import Action, Cluster, PlanError, build_plan, parse_depends_on
from tidewise.fleet.transform import Transform

SHOP = Selection(namespaces=(NS,))


def ids(plan) -> list[str]:
    return [s.id for s in plan.steps]


def test_the_application_goes_in_dependency_then_kind_order():
    assert ids(build_plan(shop(), SHOP)) == [
        "Namespace/shop",
        "ServiceAccount/shop/shop",
        "Role/shop/reader",
        "RoleBinding/shop/shop",
        "ConfigMap/shop/settings",
        "Secret/shop/creds",
        "PersistentVolumeClaim/shop/data",
        "Service/shop/api",
        "Deployment/shop/db",
        "Deployment/shop/api",
        "Job/shop/migrate",
    ]


def test_the_order_does_not_depend_on_the_order_objects_were_listed_in():
    objects = shop()
    random.Random(7).shuffle(objects)
    assert build_plan(objects, SHOP) == build_plan(shop(), SHOP)


def test_declared_and_structural_edges_are_recorded_per_step():
    steps = {s.id: s for s in build_plan(shop(), SHOP).steps}
    assert steps["Deployment/shop/api"].after == (
        "Deployment/shop/db",
        "Namespace/shop",
        "ServiceAccount/shop/shop",
    )
    assert set(steps["Deployment/shop/db"].after) == {
        "Namespace/shop",
        "ConfigMap/shop/settings",
        "PersistentVolumeClaim/shop/data",
    }
    assert steps["RoleBinding/shop/shop"].after == ("Namespace/shop", "Role/shop/reader")


def test_a_declared_edge_overrides_the_kind_rank():
    # a ConfigMap written by a Job must wait for it, although ConfigMaps normally go first
    config = obj(
        "ConfigMap", "seed", metadata={"annotations": {"tidewise.io/depends-on": "Job/fill"}}
    )
    plan = build_plan([config, workload("Job", "fill")], SHOP)
    assert ids(plan) == ["Job/shop/fill", "ConfigMap/shop/seed"]


def test_a_cycle_is_refused_naming_every_step_on_it():
    a = workload("Deployment", "a", {"tidewise.io/depends-on": "Deployment/b"})
    b = workload("Deployment", "b", {"tidewise.io/depends-on": "Deployment/c"})
    c = workload("Deployment", "c", {"tidewise.io/depends-on": "Deployment/a"})
    free = workload("Deployment", "free")
    with pytest.raises(PlanError) as err:
        build_plan([a, b, c, free], SHOP)
    message = str(err.value)
    assert "dependency cycle" in message
    assert "Deployment/shop/a -> Deployment/shop/b -> Deployment/shop/c -> Deployment/shop/a" in (
        message
    )
    assert "free" not in message


def test_a_dependency_outside_the_selection_is_refused_with_the_fix():
    api = workload("Deployment", "api", {"tidewise.io/depends-on": "Deployment/db"})
    with pytest.raises(PlanError, match=r"Deployment/shop/db, which is not in the selection"):
        build_plan([api], SHOP)


def test_structural_references_outside_the_selection_are_assumed_present():
    # the pod mounts a ConfigMap the target already has: no edge, no error
    db = workload("Deployment", "db", volumes=[{"name": "c", "configMap": {"name": "elsewhere"}}])
    assert build_plan([db], SHOP).steps[0].after == ()


def test_a_cross_cluster_edge_waits_on_the_source_first():
    api = workload("Deployment", "api", {"tidewise.io/depends-on": "source:Deployment/db"})
    plan = build_plan([api], SHOP)
    wait, apply = plan.steps
    assert (wait.id, wait.action, wait.cluster) == (
        "source:Deployment/shop/db",
        Action.WAIT,
        Cluster.SOURCE,
    )
    assert wait.gate.kind == GateKind.AVAILABLE
    assert apply.after == ("source:Deployment/shop/db",)


@pytest.mark.parametrize("value", ["Deployment", "db:Deployment/x", "Deployment//x", "a/b/c/d"])
def test_an_unreadable_annotation_is_refused(value):
    with pytest.raises(PlanError, match=r"tidewise\.io/depends-on"):
        parse_depends_on(value, NS, ObjectRef("Deployment", NS, "api"))


def test_annotation_entries_name_namespaces_and_clusters():
    parsed = parse_depends_on(
        " Deployment/db, source:Service/other/web,Namespace/x", NS, ObjectRef("Job", NS, "j")
    )
    assert [(d.cluster, d.ref) for d in parsed] == [
        (Cluster.TARGET, ObjectRef("Deployment", NS, "db")),
        (Cluster.SOURCE, ObjectRef("Service", "other", "web")),
        (Cluster.TARGET, ObjectRef("Namespace", "", "x")),
    ]


def test_the_selection_filters_by_namespace_labels_and_kinds():
    other = obj("ConfigMap", "x", namespace="other")
    unlabelled = obj("ConfigMap", "y", metadata={"labels": {}})
    selection = Selection(
        namespaces=(NS,), labels={"app": "shop"}, kinds=("ConfigMap", "Namespace")
    )
    assert ids(build_plan([*shop(), other, unlabelled], selection)) == [
        "Namespace/shop",
        "ConfigMap/shop/settings",
    ]


def test_steps_are_named_where_they_land_and_edges_follow_the_mapping():
    plan = build_plan(shop(), SHOP, Transform(namespaces={NS: "shop-b"}))
    steps = {s.id: s for s in plan.steps}
    assert "Namespace/shop-b" in steps
    assert steps["Deployment/shop-b/api"].after[0] == "Deployment/shop-b/db"
    assert steps["Deployment/shop-b/api"].manifest["metadata"]["namespace"] == "shop-b"


def test_gates_follow_kind_and_the_defaults_given():
    steps = {s.id: s for s in build_plan(shop(), SHOP, timeout_s=60, retries=3).steps}
    assert steps["Deployment/shop/db"].gate.kind == GateKind.AVAILABLE
    assert steps["Job/shop/migrate"].gate.kind == GateKind.COMPLETE
    assert steps["PersistentVolumeClaim/shop/data"].gate.kind == GateKind.BOUND
    assert steps["ConfigMap/shop/settings"].gate.kind == GateKind.EXISTS
    assert (
        steps["Deployment/shop/db"].gate.timeout_s,
        steps["Deployment/shop/db"].gate.retries,
    ) == (
        60,
        3,
    )


def test_a_custom_resource_waits_for_its_crd_and_goes_last():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "caches.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Cache", "plural": "caches"}},
    }
    cache = obj("Cache", "hot", metadata={"annotations": {"tidewise.io/ready-condition": "Ready"}})
    cache["apiVersion"] = "example.com/v1"
    plan = build_plan([cache, *shop(), crd], Selection(namespaces=()))
    assert ids(plan)[0] == "CustomResourceDefinition/caches.example.com"
    assert ids(plan)[-1] == "Cache/shop/hot"
    assert plan.steps[-1].gate.kind == GateKind.CONDITION
    assert plan.steps[0].gate.condition == "Established"


def test_the_fingerprint_changes_with_the_plan():
    base = build_plan(shop(), SHOP)
    assert base.fingerprint() == build_plan(shop(), SHOP).fingerprint()
    moved = build_plan(shop(), SHOP, Transform(replicas={"Deployment/api": 3}))
    assert moved.fingerprint() != base.fingerprint()
