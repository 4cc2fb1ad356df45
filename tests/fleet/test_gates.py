import pytest

from tests.fleet.app import obj, workload
from tidewise.fleet.gates import Gate, GateError, GateKind, check, gate_for


def deployment(replicas=2, available=2, updated=2, generation=3, observed=3, condition="True"):
    live = workload("Deployment", "db", metadata={"generation": generation})
    live["metadata"]["generation"] = generation
    live["spec"]["replicas"] = replicas
    live["status"] = {
        "observedGeneration": observed,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "conditions": [{"type": "Available", "status": condition}],
    }
    return live


AVAILABLE = Gate(GateKind.AVAILABLE)


def test_a_deployment_is_available_when_every_replica_of_its_latest_generation_is():
    assert check(AVAILABLE, deployment()).ready
    assert not check(AVAILABLE, deployment(available=1)).ready
    assert not check(AVAILABLE, deployment(updated=1)).ready
    assert not check(AVAILABLE, deployment(observed=2)).ready  # status of an older spec
    assert not check(AVAILABLE, deployment(condition="False")).ready
    assert check(AVAILABLE, deployment(replicas=0, available=0, updated=0, condition="False")).ready


def test_a_deployment_past_its_progress_deadline_fails_at_once():
    live = deployment(available=0)
    live["status"]["conditions"].append(
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    )
    assert check(AVAILABLE, live).failed


def test_a_job_completes_or_fails():
    job = workload("Job", "j")
    job["status"] = {"succeeded": 0}
    assert not check(Gate(GateKind.COMPLETE), job).ready
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert check(Gate(GateKind.COMPLETE), job).ready
    job["status"]["conditions"] = [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    ]
    state = check(Gate(GateKind.COMPLETE), job)
    assert state.failed and "BackoffLimitExceeded" in state.detail


def test_claims_statefulsets_and_conditions():
    claim = obj("PersistentVolumeClaim", "d", status={"phase": "Pending"})
    assert not check(Gate(GateKind.BOUND), claim).ready
    claim["status"]["phase"] = "Bound"
    assert check(Gate(GateKind.BOUND), claim).ready
    sts = obj("StatefulSet", "s", spec={"replicas": 3}, status={"readyReplicas": 2})
    assert not check(Gate(GateKind.READY), sts).ready
    sts["status"]["readyReplicas"] = 3
    assert check(Gate(GateKind.READY), sts).ready
    cache = obj("Cache", "c", status={"conditions": [{"type": "Ready", "status": "False"}]})
    assert check(Gate(GateKind.CONDITION, condition="Ready"), cache).detail == "Ready=False"
    cache["status"]["conditions"][0]["status"] = "True"
    assert check(Gate(GateKind.CONDITION, condition="Ready"), cache).ready


def test_annotations_choose_the_gate_and_its_limits():
    annotated = obj(
        "Cache",
        "c",
        metadata={
            "annotations": {
                "tidewise.io/ready-condition": "Synced",
                "tidewise.io/ready-timeout": "30",
                "tidewise.io/ready-retries": "0",
            }
        },
    )
    assert gate_for(annotated) == Gate(GateKind.CONDITION, 30.0, 0, condition="Synced")
    probe = obj(
        "Service", "s", metadata={"annotations": {"tidewise.io/ready-http": "http://x/healthz"}}
    )
    assert gate_for(probe).kind == GateKind.HTTP and gate_for(probe).url == "http://x/healthz"
    assert gate_for(obj("ConfigMap", "c"), timeout_s=5).timeout_s == 5


@pytest.mark.parametrize(
    "annotations",
    [
        {"tidewise.io/ready-http": "x/healthz"},
        {"tidewise.io/ready-timeout": "soon"},
        {"tidewise.io/ready-timeout": "0"},
        {"tidewise.io/ready-retries": "-1"},
    ],
)
def test_a_bad_gate_annotation_is_refused_by_name(annotations):
    with pytest.raises(GateError, match=r"tidewise\.io/ready-"):
        gate_for(obj("Service", "s", metadata={"annotations": annotations}))
