"""The twin's replica controllers: each scaling policy per workload of the week twin."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from tidewise.model import ClusterView, Resources, ScaleTo, WorkloadSpec, WorkloadStatus
from tidewise.scaling.elastic import TIDEWISE_BEHAVIOR
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.slo import ServiceLevel
from tidewise.sim.services.replicas import ElasticController, FixedReplicas, HpaController

EPOCH = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)

SPEC = WorkloadSpec(
    "web",
    Resources(cpu_milli=1000),
    rps_per_replica=10,
    startup_s=10,
    min_replicas=1,
    max_replicas=20,
    target_utilization=0.5,
)


def view(t, desired, ready, demand):
    status = WorkloadStatus(SPEC, desired, ready, 0, desired - ready, demand)
    return ClusterView(t, (), (), (status,), ())


def test_scales_up_to_ceil_of_ratio():
    # 4 ready at 10 rps each, 35 rps demand -> utilisation 0.875, ratio 1.75 -> ceil(7.0) = 7
    assert HpaController().decide(view(0, 4, 4, 35)) == [ScaleTo("web", 7)]


def test_within_tolerance_nothing_changes():
    assert HpaController().decide(view(0, 4, 4, 21)) == []


def test_clamped_to_max_replicas():
    assert HpaController().decide(view(0, 10, 10, 1000)) == [ScaleTo("web", 20)]


def test_scale_down_waits_for_the_stabilisation_window():
    hpa = HpaController()
    assert hpa.decide(view(0, 8, 8, 40)) == []  # ratio 1.0
    assert hpa.decide(view(15, 8, 8, 10)) == []  # wants 2, but 8 was recommended 15 s ago
    assert hpa.decide(view(301, 8, 8, 10)) == [ScaleTo("web", 2)]


def test_no_ready_pods_keeps_the_current_size():
    assert HpaController().decide(view(0, 3, 0, 100)) == []


def test_fixed_replicas_asks_for_its_size():
    assert FixedReplicas({"web": 5}).decide(view(0, 0, 0, 0)) == [ScaleTo("web", 5)]


def test_a_custom_metric_hpa_scales_on_the_twins_request_rate():
    per_replica = Metric(MetricKind.EXTERNAL, "rps", TargetType.AVERAGE_VALUE, 5000, query=None)
    rps = Metric(
        MetricKind.EXTERNAL, "rps", TargetType.AVERAGE_VALUE, 5000, query="requests_per_second"
    )
    # 35 rps at 5 rps per replica -> 7
    assert HpaController(metrics=(rps,)).decide(view(0, 4, 4, 35)) == [ScaleTo("web", 7)]
    # an unknown series is a metric error: nothing changes
    assert HpaController(metrics=(per_replica,)).decide(view(0, 4, 4, 35)) == []


def test_the_twin_controller_scales_every_workload_and_learns_its_load():
    spec = WorkloadSpec("web", Resources(cpu_milli=1000), 10.0, 20, 1, 50, 0.5)
    calls = []

    def forecast(history, step_s, ahead):
        calls.append(len(history))
        return np.full(ahead, 200.0)

    controller = ElasticController(EPOCH, forecast)
    decisions = []
    for minute in range(1441):  # a day of 20 rps on 4 replicas, then the forecast kicks in
        status = WorkloadStatus(spec, 4, 4, 0, 0, 20.0)
        view = ClusterView(minute * 60.0, (), (), (status,), ())
        decisions = controller.decide(view)
    assert calls == [1440]  # a day of one-minute history reached the forecaster
    # 200 rps forecast: 200 / (10 x 0.5) = 40 wanted; Kubernetes' scale-up limits allow 8
    assert decisions == [ScaleTo("web", 8)]


def test_with_a_service_level_the_hpa_is_a_floor_only_when_asked():
    """20 rps on 4 replicas of 10 rps at a 50 % target: the HPA wants 4; sized to a 5 % risk
    per minute (Poisson until a noise is measured) the level wants 20 + 1.645 x 4.47 = 27.4,
    3 replicas, and without the floor the count goes down to them."""
    spec = WorkloadSpec("web", Resources(cpu_milli=1000), 10.0, 20, 1, 50, 0.5)
    levels = {"web": ServiceLevel(overload_risk=0.05)}

    def run(controller, spec=spec):
        decisions = []
        for tick in range(20):  # past the 180 s scale-down window
            status = WorkloadStatus(spec, 4, 4, 0, 0, 20.0)
            decisions = (
                controller.decide(ClusterView(tick * 15.0, (), (), (status,), ())) or decisions
            )
        return decisions

    assert run(ElasticController(EPOCH, lambda h, s, a: np.full(a, 20.0), levels=levels)) == [
        ScaleTo("web", 3)
    ]
    floored = replace(spec, hpa_floor=True)  # the owner asks for the HPA at 50 %: it holds 4
    assert (
        run(ElasticController(EPOCH, lambda h, s, a: np.full(a, 20.0), levels=levels), floored)
        == []
    )


def test_the_scale_down_window_is_the_behaviour_given():
    """The same fall (4 replicas wanted, then 3) is followed after tidewise's 180 s window by
    default, and after 30 s with a behaviour whose scale-down window is 30 s."""
    spec = WorkloadSpec("web", Resources(cpu_milli=1000), 10.0, 20, 1, 50, 0.5)
    levels = {"web": ServiceLevel(overload_risk=0.05)}
    short = replace(
        TIDEWISE_BEHAVIOR,
        scale_down=replace(TIDEWISE_BEHAVIOR.scale_down, stabilization_window_s=30),
    )

    def first_scale_down(controller):
        for tick in range(20):
            status = WorkloadStatus(spec, 4, 4, 0, 0, 20.0)
            if controller.decide(ClusterView(tick * 15.0, (), (), (status,), ())):
                return tick * 15.0
        return None

    def forecast(history, step_s, ahead):
        return np.full(ahead, 20.0)

    assert first_scale_down(ElasticController(EPOCH, forecast, levels=levels)) == 180.0
    assert (
        first_scale_down(ElasticController(EPOCH, forecast, levels=levels, behavior=short)) == 30.0
    )


def test_the_forecast_is_refit_as_often_as_asked():
    """After the first day, a forecast is refit every 15 minutes by default and every minute
    with ``refit_s=60``: half an hour asks it 2 and 30 more times."""
    spec = WorkloadSpec("web", Resources(cpu_milli=1000), 10.0, 20, 1, 50, 0.5)
    levels = {"web": ServiceLevel(overload_risk=0.01)}

    def calls_in_half_an_hour(**refit):
        calls = []

        def forecast(history, step_s, ahead):
            calls.append(len(history))
            return np.full(ahead, 20.0)

        controller = ElasticController(EPOCH, forecast, levels=levels, **refit)
        for minute in range(1440 + 31):
            status = WorkloadStatus(spec, 4, 4, 0, 0, 20.0)
            controller.decide(ClusterView(minute * 60.0, (), (), (status,), ()))
        return len(calls) - 1  # the first fit, at the end of the first day

    assert calls_in_half_an_hour() == 2
    assert calls_in_half_an_hour(refit_s=60.0) == 30
