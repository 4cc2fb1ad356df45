"""The CronHPA controller against an in-memory API: status in the original format, resuming
from status, runOnce, Disable, HPA targets, one bad object among good ones."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.kube.controllers.fakes import FakeClient, fresh_metrics
from tidewise.kube.controllers.cronhpa import CronHpaController

T0 = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)


def cronhpa(name, jobs, kind="Deployment", target="web", uid=None, **spec):
    return {
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
            "jobs": jobs,
            **spec,
        },
    }


UP = {"name": "up", "schedule": "0 0 9 * * *", "targetSize": 5}
DOWN = {"name": "down", "schedule": "0 0 18 * * *", "targetSize": 1}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def controller(client, clock):
    return CronHpaController(client, fresh_metrics(), period_s=1.0, clock=clock)


def run(controller, clock, at):
    clock.at = at
    return asyncio.run(controller.sync())


def test_submits_fires_and_records_in_the_original_format():
    client = FakeClient({"CronHorizontalPodAutoscaler": [cronhpa("web", [UP, DOWN])]})
    client.replicas[("Deployment", "web")] = 2
    clock = Clock(T0)
    cron = controller(client, clock)
    wait = run(cron, clock, T0)
    assert wait == 1.0  # the next firing is an hour away: the period wins
    (obj,) = client.objects["CronHorizontalPodAutoscaler"]
    jobs = {c["name"]: c for c in obj["status"]["conditions"]}
    assert {c["state"] for c in jobs.values()} == {"Submitted"}
    assert set(jobs["up"]) == {
        "name",
        "jobId",
        "schedule",
        "targetSize",
        "runOnce",
        "state",
        "lastProbeTime",
        "message",
    }
    assert obj["status"]["scaleTargetRef"]["name"] == "web"

    assert run(cron, clock, T0 + timedelta(minutes=59, seconds=59, milliseconds=600)) < 0.5
    assert client.scale_writes() == []
    run(cron, clock, T0 + timedelta(hours=1, milliseconds=40))
    assert client.scale_writes() == [("web", 5)]
    jobs = {c["name"]: c for c in obj["status"]["conditions"]}
    assert jobs["up"]["state"] == "Succeed"
    assert jobs["up"]["lastProbeTime"] == "2026-11-28T09:00:00Z"
    assert jobs["up"]["message"] == "scaled Deployment web from 2 to 5"
    assert jobs["down"]["state"] == "Submitted"
    run(cron, clock, T0 + timedelta(hours=1, seconds=2))
    assert client.scale_writes() == [("web", 5)], "a firing is written once"


def test_a_new_controller_resumes_from_status():
    client = FakeClient({"CronHorizontalPodAutoscaler": [cronhpa("web", [UP, DOWN])]})
    client.replicas[("Deployment", "web")] = 2
    clock = Clock(T0)
    first = controller(client, clock)
    run(first, clock, T0)
    run(first, clock, T0 + timedelta(hours=1, seconds=1))  # up ran at 09:00
    client.replicas[("Deployment", "web")] = 7  # by hand
    # a successor after 09:00: 'up' is not repeated; 'down' (18:00) missed while none ran
    # is caught up at once
    second = controller(client, clock)
    run(second, clock, T0 + timedelta(hours=2))
    assert client.replicas[("Deployment", "web")] == 7
    run(second, clock, T0 + timedelta(hours=11))
    assert client.scale_writes() == [("web", 5), ("web", 1)]


def test_run_once_jobs_stay_done_and_disable_stops_firing():
    once = {**UP, "runOnce": True}
    obj = cronhpa("web", [once])
    client = FakeClient({"CronHorizontalPodAutoscaler": [obj]})
    client.replicas[("Deployment", "web")] = 2
    clock = Clock(T0)
    run(controller(client, clock), clock, T0)
    run(controller(client, clock), clock, T0 + timedelta(hours=1, seconds=1))
    client.replicas[("Deployment", "web")] = 2
    run(controller(client, clock), clock, T0 + timedelta(days=1, hours=1, seconds=1))
    assert client.scale_writes() == [("web", 5)]

    disabled = cronhpa("off", [DOWN], cronMode="Disable", target="api")
    client = FakeClient({"CronHorizontalPodAutoscaler": [disabled]})
    client.replicas[("Deployment", "api")] = 4
    cron = controller(client, clock)
    run(cron, clock, T0)
    run(cron, clock, T0 + timedelta(hours=12))
    assert client.scale_writes() == []


def test_an_hpa_target_gets_its_floor_raised():
    client = FakeClient(
        {
            "CronHorizontalPodAutoscaler": [
                cronhpa("web", [UP], kind="HorizontalPodAutoscaler", target="web-hpa")
            ]
        }
    )
    client.hpas["web-hpa"] = {"min": 2, "max": 4, "target": "web"}
    client.replicas[("Deployment", "web")] = 3
    clock = Clock(T0)
    cron = controller(client, clock)
    run(cron, clock, T0)
    run(cron, clock, T0 + timedelta(hours=1))
    assert client.hpas["web-hpa"] == {"min": 5, "max": 5, "target": "web"}
    assert client.scale_writes() == [("web", 5)]


def test_a_bad_object_is_reported_and_the_others_still_fire():
    bad = cronhpa("bad", [{"name": "typo", "schedule": "0 9 * * *", "targetSize": 3}])
    zone = cronhpa("zone", [UP], timeZone="Mars/Olympus", target="api")
    missing = cronhpa("missing", [UP], target="gone")
    good = cronhpa("good", [UP])
    client = FakeClient({"CronHorizontalPodAutoscaler": [bad, zone, missing, good]})
    client.replicas[("Deployment", "web")] = 1
    clock = Clock(T0)
    cron = controller(client, clock)
    run(cron, clock, T0)
    run(cron, clock, T0 + timedelta(hours=1))
    assert client.scale_writes() == [("web", 5)]
    (typo,) = bad["status"]["conditions"]
    assert typo["state"] == "Failed" and "spec.jobs[0].schedule" in typo["message"]
    assert "six fields" in typo["message"]
    assert "spec.timeZone: 'Mars/Olympus'" in zone["status"]["conditions"][0]["message"]
    (gone,) = missing["status"]["conditions"]
    assert gone["state"] == "Failed" and "gone not found" in gone["message"]


def test_a_fixed_object_does_not_catch_up_what_never_ran():
    """Malformed from 08:00 to 10:00: 'up' (09:00) was never submitted, so fixing the other
    job at 10:00 does not run it late."""
    typo = {"name": "down", "schedule": "0 18 * * *", "targetSize": 1}
    obj = cronhpa("web", [UP, typo])
    client = FakeClient({"CronHorizontalPodAutoscaler": [obj]})
    client.replicas[("Deployment", "web")] = 2
    clock = Clock(T0)
    cron = controller(client, clock)
    run(cron, clock, T0)
    assert {c["state"] for c in obj["status"]["conditions"]} == {"Failed"}
    obj["spec"]["jobs"] = [UP, DOWN]
    run(cron, clock, T0 + timedelta(hours=2))
    assert client.scale_writes() == []
    assert {c["state"] for c in obj["status"]["conditions"]} == {"Submitted"}
    run(cron, clock, T0 + timedelta(hours=10))
    assert client.scale_writes() == [("web", 1)]
