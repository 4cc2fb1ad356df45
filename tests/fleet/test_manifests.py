from tests.fleet.app import obj, workload
from tidewise.fleet.manifests import Selection, copyable, select, strip_server_fields


def served(manifest: dict) -> dict:
    """``manifest`` with what an API server adds to it."""
    manifest["metadata"] |= {
        "uid": "u-1",
        "resourceVersion": "42",
        "generation": 2,
        "creationTimestamp": "2026-11-28T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "annotations": {
            "deployment.kubernetes.io/revision": "1",
            "pv.kubernetes.io/bind-completed": "yes",
            "team": "shop",
        },
    }
    manifest["status"] = {"phase": "Bound"}
    return manifest


def test_server_written_fields_are_stripped_and_user_ones_kept():
    clean = strip_server_fields(served(obj("ConfigMap", "c", data={"a": "1"})))
    assert clean["metadata"] == {
        "name": "c",
        "namespace": "shop",
        "labels": {"app": "shop"},
        "annotations": {"team": "shop"},
    }
    assert "status" not in clean and clean["data"] == {"a": "1"}


def test_service_addresses_claim_volumes_and_job_selectors_are_stripped():
    service = obj(
        "Service", "s", spec={"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": []}
    )
    assert strip_server_fields(service)["spec"] == {"ports": []}
    claim = obj("PersistentVolumeClaim", "d", spec={"volumeName": "pv-1", "resources": {}})
    assert strip_server_fields(claim)["spec"] == {"resources": {}}
    job = workload("Job", "j")
    job["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}
    job["spec"]["template"]["metadata"]["labels"] |= {
        "batch.kubernetes.io/controller-uid": "u",
        "job-name": "j",
    }
    clean = strip_server_fields(job)
    assert "selector" not in clean["spec"]
    assert clean["spec"]["template"]["metadata"]["labels"] == {"app": "j"}


def test_namespace_labels_written_by_the_server_are_stripped():
    ns = obj(
        "Namespace",
        "shop",
        namespace="",
        metadata={"labels": {"kubernetes.io/metadata.name": "shop"}},
    )
    assert "labels" not in strip_server_fields(ns)["metadata"]


def test_what_controllers_made_is_not_copied():
    owned = obj("Pod", "p", metadata={"ownerReferences": [{"kind": "ReplicaSet"}]})
    token = obj("Secret", "t", type="kubernetes.io/service-account-token")
    assert not copyable(owned) and not copyable(token)
    assert not copyable(obj("ConfigMap", "kube-root-ca.crt"))
    assert not copyable(obj("ServiceAccount", "default"))
    assert copyable(obj("ServiceAccount", "shop"))
    assert select([owned, token, obj("ConfigMap", "x")], Selection()) == [obj("ConfigMap", "x")]


def test_the_source_manifest_is_not_modified():
    source = served(obj("ConfigMap", "c"))
    strip_server_fields(source)
    assert source["metadata"]["uid"] == "u-1"
