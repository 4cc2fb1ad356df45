from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewise.scaling.cron import CronHpaSpec, CronScaler
from tidewise.scaling.elastic import CronOnly, ElasticScaler
from tidewise.scaling.headroom import Headroom
from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric
from tidewise.scaling.observation import ServiceModel, ServiceObservation
from tidewise.scaling.predictive import PredictiveScaler
from tidewise.sim.pod_metrics import pod_samples

SERVICE = ServiceModel(
    replica_capacity=10.0, startup_s=60, target_utilization=0.5, min_replicas=1, max_replicas=30
)
EPOCH = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def cron(size_at_8=12):
    return CronScaler(
        CronHpaSpec.from_manifest(
            {
                "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
                "kind": "CronHorizontalPodAutoscaler",
                "metadata": {"name": "c"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                    "jobs": [
                        {"name": "morning", "schedule": "0 0 8 * * *", "targetSize": size_at_8}
                    ],
                },
            }
        )
    )


def observe(t, replicas, load):
    created = [-3600.0] * replicas
    return ServiceObservation(
        t, EPOCH + timedelta(seconds=t), replicas, pod_samples(created, t, SERVICE, load), load
    )


def hpa():
    return HorizontalPodAutoscaler(1, 30, (Metric.cpu_utilization(50),))


def test_reactive_alone_is_the_hpa():
    scaler = ElasticScaler(hpa())
    decision = scaler.recommend(observe(0.0, 4, 40.0))  # 100 % busy against 50 % -> 8
    assert (decision.replicas, decision.rule) == (8, "reactive")


def test_the_cron_floor_applies_at_once_and_says_so():
    scaler = ElasticScaler(hpa(), cron=cron(12))
    assert scaler.recommend(observe(0.0, 4, 20.0)).replicas == 4  # before 08:00
    decision = scaler.recommend(observe(3601.0, 4, 20.0))
    assert (decision.replicas, decision.rule) == (12, "cron")


def test_the_forecast_scales_out_ahead_of_the_load():
    def rising(history, step_s, ahead):
        return np.full(ahead, 150.0)

    predictive = PredictiveScaler(SERVICE, rising, lead_s=180, min_history_s=0)
    scaler = ElasticScaler(hpa(), predictive=predictive)
    decision = scaler.recommend(observe(60.0, 4, 20.0))
    # 150 / (10 x 0.5) = 30 wanted, the legacy scale-up limit allows max(2 x 4, 4) = 8
    assert (decision.replicas, decision.rule) == (8, "behavior")


def test_cron_only_follows_the_schedule():
    policy = CronOnly(cron(7), min_replicas=2)
    assert policy.recommend(observe(0.0, 3, 0.0)).replicas == 3
    assert policy.recommend(observe(3601.0, 3, 0.0)).replicas == 7


@settings(max_examples=60, deadline=None)
@given(
    floor=st.integers(0, 40),
    loads=st.lists(st.floats(0, 400), min_size=1, max_size=12),
    forecast=st.floats(0, 400),
)
def test_never_below_the_cron_floor_nor_above_max(floor, loads, forecast):
    predictive = PredictiveScaler(
        SERVICE, lambda h, s, a: np.full(a, forecast), lead_s=120, min_history_s=0
    )
    scaler = ElasticScaler(hpa(), predictive=predictive, cron=cron(floor))
    replicas = scaler.recommend(observe(0.0, 4, 20.0)).replicas  # submitted at 07:00
    for k, load in enumerate(loads):
        decision = scaler.recommend(observe(3601.0 + 15 * k, replicas, load))
        replicas = decision.replicas
        assert replicas >= max(floor, 1)  # the 08:00 job has fired
        assert replicas <= max(30, floor)  # a floor above max raises max, as CronHPA does


def test_a_headroom_holds_the_forecast_further_ahead_than_the_replicas():
    """Load 20 now and 20 for the next 10 minutes, 150 after: the replicas' lead (3
    minutes) sees 20 (4 replicas at 5 each), the headroom's 15 minutes see 150, capped at
    max 30 replicas: 26 placeholders beside the 4."""

    def ramp(history, step_s, ahead):
        return np.where(np.arange(ahead) < 10, 20.0, 150.0)

    predictive = PredictiveScaler(SERVICE, ramp, lead_s=180, min_history_s=0, z=0.0, horizon_s=900)
    scaler = ElasticScaler(hpa(), predictive=predictive, headroom=Headroom(900, 40))
    decision = scaler.recommend(observe(60.0, 4, 20.0))
    assert (decision.replicas, decision.placeholders, decision.ahead) == (4, 26, 30)


def test_without_a_headroom_no_placeholders():
    def flat(history, step_s, ahead):
        return np.full(ahead, 150.0)

    predictive = PredictiveScaler(SERVICE, flat, lead_s=180, min_history_s=0)
    decision = ElasticScaler(hpa(), predictive=predictive).recommend(observe(60.0, 4, 20.0))
    assert (decision.placeholders, decision.ahead) == (0, None)
