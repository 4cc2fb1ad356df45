import pytest

from tests.fleet.app import NS, obj, shop, workload
from tidewise.fleet.transform import Transform, TransformError

TO_B = Transform.from_dict(
    {
        "namespaces": {NS: "shop-b"},
        "images": {"registry-a.example/": "registry-b.example/", "registry-a.example/db": "db.b/x"},
        "storageClasses": {"local-a": "local-b"},
        "replicas": {"Deployment/api": 3, f"Deployment/{NS}/db": 0},
    }
)


def by_name(kind: str, name: str) -> dict:
    return next(m for m in shop() if m["kind"] == kind and m["metadata"]["name"] == name)


def test_namespace_mapping_moves_objects_namespaces_and_binding_subjects():
    assert TO_B.apply(by_name("Namespace", NS))["metadata"]["name"] == "shop-b"
    binding = TO_B.apply(by_name("RoleBinding", "shop"))
    assert binding["metadata"]["namespace"] == "shop-b"
    assert binding["subjects"][0]["namespace"] == "shop-b"


def test_the_longest_registry_prefix_wins():
    assert TO_B.image("registry-a.example/api:1") == "registry-b.example/api:1"
    assert TO_B.image("registry-a.example/db:1") == "db.b/x:1"
    assert TO_B.image("docker.io/nginx") == "docker.io/nginx"
    job = TO_B.apply(
        workload("Job", "migrate", initContainers=[{"name": "i", "image": "registry-a.example/i"}])
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["image"] == "registry-b.example/i"
    assert pod["containers"][0]["image"] == "registry-b.example/migrate:1"


def test_storage_classes_of_claims_and_claim_templates_are_mapped():
    assert (
        TO_B.apply(by_name("PersistentVolumeClaim", "data"))["spec"]["storageClassName"]
        == "local-b"
    )
    sts = obj(
        "StatefulSet",
        "cache",
        spec={"volumeClaimTemplates": [{"spec": {"storageClassName": "local-a"}}]},
    )
    assert (
        TO_B.apply(sts)["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "local-b"
    )


def test_replica_overrides_by_name_or_namespace_and_name():
    assert TO_B.apply(by_name("Deployment", "api"))["spec"]["replicas"] == 3
    assert TO_B.apply(by_name("Deployment", "db"))["spec"]["replicas"] == 0


def test_the_input_is_left_unchanged():
    source = by_name("Deployment", "api")
    TO_B.apply(source)
    assert source == by_name("Deployment", "api")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"namespace": {}}, "namespace: unknown key"),
        ({"images": ["a"]}, "images: a mapping"),
        ({"replicas": {"ConfigMap/x": 1}}, "replicas.ConfigMap/x"),
        ({"replicas": {"Deployment/x": -1}}, "replicas.Deployment/x: a whole number"),
        ({"replicas": {"Deployment/x": "2"}}, "replicas.Deployment/x: a whole number"),
        ([], "must hold a mapping"),
    ],
)
def test_a_bad_transform_file_names_the_field(data, field):
    with pytest.raises(TransformError, match=field):
        Transform.from_dict(data)
