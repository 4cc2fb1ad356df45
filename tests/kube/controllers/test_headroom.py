"""An ElasticScaler's headroom against an in-memory API: the placeholder Deployment it keeps,
its status and Events, through a forecast peak and with the headroom turned off."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.kube.controllers.fakes import FakeClient, fresh_metrics
from tidewise.kube.controllers.elastic import ElasticScalerController
from tidewise.kube.controllers.elastic_spec import read_spec
from tidewise.kube.controllers.headroom import HEADROOM_FOR, PAUSE_IMAGE, placeholder_deployment
from tidewise.kube.controllers.prometheus import Endpoints

T0 = datetime(2026, 11, 28, 0, 0, 0, tzinfo=UTC)
PEAK = (600, 700)  # minutes of the day at load 100; 10 the rest of the day
RESOURCES = {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}


def load_at(at: datetime) -> float:
    minute = (at - T0).total_seconds() // 60 % 1440
    return 100.0 if PEAK[0] <= minute < PEAK[1] else 10.0


class DailyPrometheus:
    """Answers the load of the day's pattern at the rig's clock."""

    def __init__(self, clock):
        self.clock = clock

    def resolve(self, section):
        return Endpoints("http://prometheus:9090").resolve(section)

    async def query(self, promql: str, url: str | None = None) -> float:
        return load_at(self.clock())


def web() -> dict:
    labels = {"app": "web"}
    pod = {
        "containers": [{"name": "main", "image": "shop/web:1", "resources": RESOURCES}],
        "nodeSelector": {"karpenter.sh/capacity-type": "on-demand"},
        "tolerations": [{"key": "shop", "operator": "Exists"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def scaler(headroom: dict) -> dict:
    predictive = {"enabled": True, "loadQuery": "sum(rate(requests_total[1m]))"}
    predictive |= {"replicaCapacity": 10, "targetUtilization": 0.5, "startupSeconds": 60}
    return {
        "apiVersion": "tidewise.io/v1alpha1",
        "kind": "ElasticScaler",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web", "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 40,
            "predictive": predictive,
            "headroom": headroom,
        },
    }


class Rig:
    def __init__(self, obj):
        self.obj = obj
        self.client = FakeClient({"ElasticScaler": [obj], "Deployment": [web()]})
        self.client.replicas[("Deployment", "web")] = 2
        self.at = T0
        self.controller = ElasticScalerController(
            self.client,
            fresh_metrics(),
            DailyPrometheus(lambda: self.at),
            60.0,
            clock=lambda: self.at,
        )

    def until(self, minute: int) -> None:
        while (self.at - T0).total_seconds() < minute * 60:
            self.at += timedelta(seconds=60)
            asyncio.run(self.controller.sync())

    @property
    def placeholders(self) -> dict | None:
        found = [d for d in self.client.objects["Deployment"] if d["metadata"]["name"] != "web"]
        return found[0] if found else None

    @property
    def status(self) -> dict:
        return self.obj["status"]["headroom"]


def test_placeholders_hold_the_peak_ahead_of_the_replicas_then_shrink():
    """lookahead 15 minutes; the replicas' own lead is 60 s + 120 s. 12 minutes before the
    second day's peak the lookahead sees it and the replicas' lead does not: placeholders
    fill the gap to the forecast; once the replicas are asked for they shrink to what is
    still missing, and an hour after the peak there are none."""
    rig = Rig(scaler({"enabled": True, "lookaheadSeconds": 900, "maxPlaceholders": 30}))
    rig.until(1440 + 300)
    assert rig.status["forecastReplicas"] is not None
    assert rig.status["placeholders"] == 0 and rig.placeholders["spec"]["replicas"] == 0
    rig.until(1440 + PEAK[0] - 12)
    replicas = rig.client.replicas[("Deployment", "web")]
    ahead = rig.status["forecastReplicas"]
    assert ahead >= 20 > replicas  # 100 / (10 x 0.5) at least; the replicas not yet
    assert rig.status["placeholders"] == ahead - replicas
    assert rig.placeholders["spec"]["replicas"] == ahead - replicas
    assert rig.obj["status"]["desiredReplicas"] == replicas
    assert any(
        reason == "HeadroomChanged" and f"{ahead - replicas} placeholders (was 0)" in message
        for reason, message in rig.client.events
    )
    rig.until(1440 + PEAK[0] + 5)
    replicas = rig.client.replicas[("Deployment", "web")]
    assert replicas >= 20
    assert rig.status["placeholders"] == max(rig.status["forecastReplicas"] - replicas, 0)
    rig.until(1440 + PEAK[1] + 60)
    assert rig.status["placeholders"] == 0 and rig.placeholders["spec"]["replicas"] == 0


def test_the_placeholders_are_shaped_and_placed_like_the_target_and_owned_by_the_scaler():
    rig = Rig(scaler({"enabled": True, "lookaheadSeconds": 900}))
    rig.until(2)
    held = rig.placeholders
    assert held["metadata"]["name"] == "web-headroom" == rig.status["deployment"]
    owner = held["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ElasticScaler",
        "web",
        "uid-web",
        True,
    )
    pod = held["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "tidewise-headroom"
    assert pod["containers"] == [{"name": "main", "image": PAUSE_IMAGE, "resources": RESOURCES}]
    target = web()["spec"]["template"]["spec"]
    assert (pod["nodeSelector"], pod["tolerations"]) == (
        target["nodeSelector"],
        target["tolerations"],
    )
    labels = held["spec"]["template"]["metadata"]["labels"]
    assert labels == held["spec"]["selector"]["matchLabels"] == {HEADROOM_FOR: "web"}


def test_an_unchanged_count_is_not_written_again():
    rig = Rig(scaler({"enabled": True, "lookaheadSeconds": 900}))
    rig.until(30)
    applied = [w for w in rig.client.writes if w[0] == "Deployment"]
    assert len(applied) == 1  # 30 syncs, no forecast yet: 0 placeholders, applied once


def test_turning_the_headroom_off_deletes_the_placeholders_and_says_so():
    obj = scaler({"enabled": True, "lookaheadSeconds": 900})
    rig = Rig(obj)
    rig.until(2)
    assert rig.placeholders is not None
    obj["spec"]["headroom"] = {"enabled": False}
    rig.until(3)
    assert rig.placeholders is None and rig.obj["status"]["headroom"] is None
    assert any(reason == "HeadroomReleased" for reason, _ in rig.client.events)
    rig.until(4)  # nothing left to release: no second delete
    assert [w for w in rig.client.writes if w[2] == {"deleted": True}] == [
        ("Deployment", "web-headroom", {"deleted": True})
    ]


def test_a_headroom_without_predictive_is_an_invalid_spec():
    obj = scaler({"enabled": True})
    del obj["spec"]["predictive"]
    obj["spec"]["cron"] = {"jobs": [{"name": "j", "schedule": "0 0 8 * * *", "targetSize": 3}]}
    rig = Rig(obj)
    rig.until(1)
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.headroom" in ready["message"]
    assert rig.placeholders is None


def test_the_manifest_copies_only_what_places_a_pod():
    template = {"spec": {"containers": [{"name": "a", "image": "x"}], "hostNetwork": True}}
    obj = scaler({"enabled": True})
    spec = read_spec(obj).headroom
    held = placeholder_deployment(obj, template, 3, spec)
    pod = held["spec"]["template"]["spec"]
    assert "hostNetwork" not in pod and pod["containers"][0]["resources"] == {}
    assert held["spec"]["replicas"] == 3


def test_a_failed_write_is_a_warning_and_keeps_the_last_status():
    obj = scaler({"enabled": True, "lookaheadSeconds": 900})
    rig = Rig(obj)
    rig.until(1)
    rig.client.objects["Deployment"] = []  # the target's template (read each sync) is gone
    rig.until(2)
    assert rig.status["placeholders"] == 0
    assert "placeholders not written: web not found" in rig.status["message"]
    assert ("FailedHeadroom", "placeholders not written: web not found") in rig.client.events
