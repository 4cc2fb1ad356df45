"""CronHorizontalPodAutoscaler end to end: the upstream controller's README example applied
unchanged but for its schedules (a few seconds ahead), a malformed object beside it, and the
operator killed and restarted between two firings."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event

from tests.kube.controllers.support import ReplicaRecorder, parked_deployment
from tests.kube.kwok import wait_for
from tidewise.kube.api.kinds import CronHpa

pytestmark = pytest.mark.e2e

# examples/deployment_cronhpa.yaml of AliyunContainerService/kubernetes-cronhpa-controller
# (its CronHorizontalPodAutoscaler; the Deployment it names is created by the test, in
# apps/v1, since apps/v1beta2 is no longer served). Only the two schedules are templated.
UPSTREAM = """\
apiVersion: autoscaling.alibabacloud.com/v1beta1
kind: CronHorizontalPodAutoscaler
metadata:
  labels:
    controller-tools.k8s.io: "1.0"
  name: cronhpa-sample
spec:
   scaleTargetRef:
      apiVersion: apps/v1beta2
      kind: Deployment
      name: nginx-deployment-basic
   jobs:
   - name: "scale-down"
     schedule: "{down}"
     targetSize: 1
   - name: "scale-up"
     schedule: "{up}"
     targetSize: 3
"""
TARGET = "nginx-deployment-basic"
LEAD_S = 8  # the first firing is this far ahead of the object's creation
ON_TIME_S = 1.5  # a firing's scale write lands within this of its scheduled second


def at_second(when: datetime) -> str:
    """A six-field schedule that fires at ``when``'s second of every hour."""
    return f"{when.second} {when.minute} * * * *"


def apply_cronhpa(kube: Client, namespace: str, text: str) -> None:
    body = yaml.safe_load(text)
    kube.create(CronHpa(metadata=body["metadata"], spec=body["spec"]), namespace=namespace)


def conditions(kube: Client, namespace: str, name: str) -> dict[str, dict]:
    obj = kube.get(CronHpa, name, namespace=namespace)
    return {c["name"]: c for c in (obj.status or {}).get("conditions", [])}


def test_the_upstream_example_scales_at_the_scheduled_second(kube, operator_factory, provisioned):
    namespace = provisioned
    operator = operator_factory("--cron-period", "1")
    kube.create(parked_deployment(TARGET, 2), namespace=namespace)
    up = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
    down = up + timedelta(seconds=5)
    bad = UPSTREAM.replace("cronhpa-sample", "cronhpa-malformed")
    with ReplicaRecorder(kube, TARGET, namespace) as seen:
        apply_cronhpa(kube, namespace, bad.format(up="0 8 * * *", down=at_second(down)))
        apply_cronhpa(kube, namespace, UPSTREAM.format(up=at_second(up), down=at_second(down)))
        wait_for("the scale-down", lambda: seen.first_time_at(1) is not None, deadline=LEAD_S + 60)
    scaled_up, scaled_down = seen.first_time_at(3), seen.first_time_at(1)
    assert scaled_up is not None, seen.changes
    assert up.timestamp() <= scaled_up < up.timestamp() + ON_TIME_S, seen.changes
    assert down.timestamp() <= scaled_down < down.timestamp() + ON_TIME_S, seen.changes
    assert [r for _, r in seen.changes] == [2, 3, 1]

    wait_for(
        "both runs recorded",
        lambda: conditions(kube, namespace, "cronhpa-sample")["scale-down"]["state"] == "Succeed",
    )
    jobs = conditions(kube, namespace, "cronhpa-sample")
    assert jobs["scale-up"]["state"] == "Succeed"
    assert jobs["scale-up"]["lastProbeTime"] == up.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "from 2 to 3" in jobs["scale-up"]["message"]

    # the malformed object is reported, names the field, and stopped nothing
    failed = conditions(kube, namespace, "cronhpa-malformed")
    assert {c["state"] for c in failed.values()} == {"Failed"}
    assert "spec.jobs[1].schedule" in failed["scale-up"]["message"]
    assert "six fields" in failed["scale-up"]["message"]
    assert operator.metric("tidewise_cronhpa_fire_delay_seconds_count") == 2
    told = kube.list(Event, namespace=namespace, fields={"involvedObject.name": "cronhpa-sample"})
    rescales = [e.message for e in told if e.reason == "SuccessfulRescale"]
    assert len(rescales) == 2 and "from 2 to 3" in " ".join(rescales), rescales
    assert (
        operator.metric('tidewise_controller_decisions_total{controller="cronhpa",rule="cron"}')
        == 2
    )
    assert operator.process.poll() is None


def test_the_schema_rejects_a_job_without_a_schedule(kube, crds, namespace):
    body = yaml.safe_load(UPSTREAM.format(up="0 0 8 * * *", down="0 0 20 * * *"))
    del body["spec"]["jobs"][0]["schedule"]
    with pytest.raises(ApiError) as error:
        kube.create(CronHpa(metadata=body["metadata"], spec=body["spec"]), namespace=namespace)
    assert error.value.status.code == 422
    assert "schedule" in error.value.status.message


def test_a_restarted_operator_neither_repeats_nor_loses_a_firing(
    kube, operator_factory, provisioned
):
    """Killed after the first job ran and restarted before the second: the first is not run
    again (the replicas set by hand meanwhile stay), the second fires on its second."""
    namespace = provisioned
    operator = operator_factory("--cron-period", "1")
    kube.create(parked_deployment(TARGET, 2), namespace=namespace)
    up = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
    down = up + timedelta(seconds=25)
    with ReplicaRecorder(kube, TARGET, namespace) as seen:
        apply_cronhpa(kube, namespace, UPSTREAM.format(up=at_second(up), down=at_second(down)))
        wait_for("the scale-up", lambda: seen.first_time_at(3) is not None, deadline=LEAD_S + 60)
        wait_for(
            "the run recorded",
            lambda: conditions(kube, namespace, "cronhpa-sample")["scale-up"]["state"] == "Succeed",
        )
        operator.kill()
        by_hand = {"spec": {"replicas": 5}}
        kube.patch(Deployment, TARGET, by_hand, namespace=namespace)
        operator.start()
        time.sleep(3)  # a restart that re-ran the scale-up would have written 3 by now
        assert seen.current() == 5, seen.changes
        wait_for("the scale-down", lambda: seen.first_time_at(1) is not None, deadline=60)
    assert [r for _, r in seen.changes] == [2, 3, 5, 1]
    assert down.timestamp() <= seen.first_time_at(1) < down.timestamp() + ON_TIME_S
    jobs = conditions(kube, namespace, "cronhpa-sample")
    assert jobs["scale-up"]["lastProbeTime"] == up.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "from 5 to 1" in jobs["scale-down"]["message"]
