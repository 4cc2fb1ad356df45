from tidewise.scaling import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.replica_calculator import NoMetricsError, PodSample


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
