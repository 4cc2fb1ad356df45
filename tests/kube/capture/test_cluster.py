"""Which autoscaler sizes a workload, and kubectl's ``-l``, as capture reads them (the reads
themselves run against the API server in tests/kube/test_capture_e2e.py)."""

import pytest
from lightkube.core.selector import build_selector

from tidewise.kube.capture.cluster import _Autoscalers, _scaling, label_selector
from tidewise.scaling.cron import CronHpaSpec


def scaler(kind_name, target_kind, target, low, high, namespace="shop"):
    return {
        "metadata": {"name": kind_name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind, "name": target},
            "minReplicas": low,
            "maxReplicas": high,
        },
    }


def cron(name, target_kind, target, sizes, api_version="apps/v1"):
    jobs = [
        {"name": f"j{i}", "schedule": f"0 0 {i} * * *", "targetSize": size}
        for i, size in enumerate(sizes)
    ]
    return CronHpaSpec.from_manifest(
        {
            "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
            "kind": "CronHorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": api_version, "kind": target_kind, "name": target},
                "jobs": jobs,
            },
        }
    )


def test_an_elastic_scaler_wins_over_an_hpa_on_the_same_workload():
    found = _Autoscalers(
        hpas=[scaler("web-hpa", "Deployment", "web", 2, 10)],
        elastic=[scaler("web-es", "Deployment", "web", 3, 30)],
        crons=[],
    )
    scaling = _scaling(found, "shop", "Deployment", "web", 4)
    assert (scaling.min_replicas, scaling.max_replicas) == (3, 30)
    assert scaling.source == "ElasticScaler web-es"


def test_a_cronhpa_on_the_hpa_widens_its_range():
    found = _Autoscalers(
        hpas=[scaler("web-hpa", "Deployment", "web", 2, 10)],
        elastic=[],
        crons=[cron("peak", "HorizontalPodAutoscaler", "web-hpa", [1, 14], "autoscaling/v2")],
    )
    scaling = _scaling(found, "shop", "Deployment", "web", 4)
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 14)
    assert "with CronHorizontalPodAutoscaler peak" in scaling.source


def test_only_autoscalers_of_the_same_namespace_kind_and_name_count():
    found = _Autoscalers(
        hpas=[
            scaler("a", "Deployment", "web", 2, 10, namespace="other"),
            scaler("b", "StatefulSet", "web", 2, 10),
            scaler("c", "Deployment", "web-admin", 2, 10),
        ],
        elastic=[],
        crons=[cron("db", "StatefulSet", "db", [2, 5])],
    )
    fixed = _scaling(found, "shop", "Deployment", "web", 3)
    assert (fixed.min_replicas, fixed.max_replicas, fixed.source) == (3, 3, "fixed at 3 replicas")
    statefulset = _scaling(found, "shop", "StatefulSet", "db", 3)
    assert (statefulset.min_replicas, statefulset.max_replicas) == (2, 5)


def test_kubectl_equality_selectors():
    # as the API server receives them
    assert build_selector(label_selector("app=web,tier!=db,canary,!legacy")) == (
        "app=web,tier!=db,canary,!legacy"
    )
    assert build_selector(label_selector("app==web")) == "app=web"
    assert label_selector(None) == {}
    with pytest.raises(ValueError, match=r"-l: 'env in \(a'"):
        label_selector("env in (a,b)")
