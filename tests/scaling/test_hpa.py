from tidewise.model import ClusterView, Resources, ScaleTo, WorkloadSpec, WorkloadStatus
from tidewise.scaling import FixedReplicas, HorizontalPodAutoscaler, HpaController
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.replica_calculator import NoMetricsError, PodSample

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


class FailingFor:
    """Pods for the CPU metric; an error for any other."""

    def __init__(self, pods):
        self._pods = pods

    def pods(self, metric):
        if metric.name != "cpu":
            raise NoMetricsError("no qps")
        return self._pods

    def value(self, metric):
        raise NoMetricsError("none")


def pods_at(utilisation, count):
    return [
        PodSample(f"p{i}", "Running", True, -1e6, -1e6, False, 1000, 10 * utilisation, 0.0)
        for i in range(count)
    ]


def hpa(*metrics):
    return HorizontalPodAutoscaler(1, 20, metrics or (Metric.cpu_utilization(50),))


QPS = Metric(MetricKind.PODS, "qps", TargetType.AVERAGE_VALUE, 1000)


def test_highest_proposal_wins_and_a_failed_metric_blocks_only_scale_down():
    assert hpa().proposal(FailingFor(pods_at(100, 4)), 4, 0.0) == 8
    # qps fails: a scale-up proposed by CPU still goes through...
    assert hpa(Metric.cpu_utilization(50), QPS).proposal(FailingFor(pods_at(100, 4)), 4, 0.0) == 8
    # ...a scale-down does not
    assert hpa(Metric.cpu_utilization(50), QPS).proposal(FailingFor(pods_at(10, 4)), 4, 0.0) is None
    assert hpa(QPS).proposal(FailingFor(pods_at(10, 4)), 4, 0.0) is None


def test_settle_applies_the_floor_at_once_and_keeps_history():
    h = hpa()
    assert h.settle(0.0, 4, 2, floor=6).replicas == 6
    assert h.history.recommendations  # the controller's memory is kept on the object
    assert h.settle(15.0, 6, 30).replicas == 12  # legacy scale-up limit: 2 x current


def test_a_custom_metric_hpa_scales_on_the_twins_request_rate():
    per_replica = Metric(MetricKind.EXTERNAL, "rps", TargetType.AVERAGE_VALUE, 5000, query=None)
    rps = Metric(
        MetricKind.EXTERNAL, "rps", TargetType.AVERAGE_VALUE, 5000, query="requests_per_second"
    )
    # 35 rps at 5 rps per replica -> 7
    assert HpaController(metrics=(rps,)).decide(view(0, 4, 4, 35)) == [ScaleTo("web", 7)]
    # an unknown series is a metric error: nothing changes
    assert HpaController(metrics=(per_replica,)).decide(view(0, 4, 4, 35)) == []
