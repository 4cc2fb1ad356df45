import pytest

from tidewise.scaling.captured import (
    DEFAULT_TARGET,
    cpu_target,
    fixed,
    from_autoscaler,
    from_cron,
    replica_capacity,
)
from tidewise.scaling.cron import CronHpaSpec

HPA = {
    "metadata": {"name": "web"},
    "spec": {
        "minReplicas": 2,
        "maxReplicas": 20,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ],
    },
}


def test_an_hpas_bounds_and_cpu_target_are_the_scenarios():
    scaling = from_autoscaler("HorizontalPodAutoscaler", HPA)
    assert (scaling.min_replicas, scaling.max_replicas) == (2, 20)
    assert scaling.target_utilization == 0.6
    assert scaling.source == "HorizontalPodAutoscaler web" and scaling.notes == ()


def test_a_metric_the_scenario_cannot_state_is_noted_not_dropped_silently():
    pods = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "rps"},
            "target": {"type": "AverageValue", "averageValue": "30"},
        },
    }
    target, notes = cpu_target([pods, {"type": "Nonsense"}], "HPA web")
    assert target == DEFAULT_TARGET
    assert "metric rps (Pods) is replayed as the CPU target 70%" in notes[0]
    assert notes[1].startswith("HPA web.metrics[1].type") and notes[1].endswith("left out")


def test_an_hpa_without_min_replicas_takes_kubernetes_default_of_one():
    scaling = from_autoscaler(
        "ElasticScaler", {"metadata": {"name": "e"}, "spec": {"maxReplicas": 5}}
    )
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 5)
    assert scaling.target_utilization == DEFAULT_TARGET


def test_a_cronhpa_spans_every_size_it_sets_and_the_size_now():
    cron = CronHpaSpec.from_manifest(
        {
            "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
            "kind": "CronHorizontalPodAutoscaler",
            "metadata": {"name": "day", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "jobs": [
                    {"name": "up", "schedule": "0 0 8 * * *", "targetSize": 10},
                    {"name": "down", "schedule": "0 0 20 * * *", "targetSize": 3},
                ],
            },
        }
    )
    scaling = from_cron(cron, replicas=12)
    assert (scaling.min_replicas, scaling.max_replicas) == (3, 12)


def test_without_an_autoscaler_the_count_stays():
    assert (fixed(4).min_replicas, fixed(4).max_replicas) == (4, 4)
    assert (fixed(0).min_replicas, fixed(0).max_replicas) == (1, 1)


def test_a_replicas_capacity_is_what_it_serves_at_the_target():
    # 6 replicas held at 60 % serving 90 rps: one replica serves 25 rps at 100 %
    assert replica_capacity(90.0, 6, 0.6) == pytest.approx(25.0)
    for rate, replicas in ((0.0, 3), (float("nan"), 3), (10.0, 0)):
        with pytest.raises(ValueError, match="no traffic and replicas"):
            replica_capacity(rate, replicas, 0.7)
