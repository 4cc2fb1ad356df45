import pytest

from tidewise.scaling.metrics import Metric, MetricError, MetricKind, TargetType, propose
from tidewise.scaling.replica_calculator import DEFAULT_SETTINGS, PodSample


def ready(name, value, request=1000):
    return PodSample(name, "Running", True, -1e6, -1e6, False, request, value, 0.0)


class Source:
    def __init__(self, pods=(), value=0):
        self._pods, self._value = list(pods), value

    def pods(self, metric):
        return self._pods

    def value(self, metric):
        return self._value


def test_reads_autoscaling_v2_metric_specs():
    cpu = Metric.from_spec(
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    )
    assert cpu == Metric(MetricKind.RESOURCE, "cpu", TargetType.UTILIZATION, 60)
    qps = Metric.from_spec(
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "500m"},
            },
        }
    )
    assert qps.target == 500 and qps.kind is MetricKind.PODS
    queue = Metric.from_spec(
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue", "query": "sum(jobs_waiting)"},
                "target": {"type": "Value", "value": "1.5k"},
            },
        }
    )
    assert queue.query == "sum(jobs_waiting)" and queue.target == 1_500_000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "Cpu"}, r"metrics\[0\]\.type"),
        ({"type": "Pods"}, "needs a 'pods' section"),
        ({"type": "Pods", "pods": {"metric": {"name": "q"}}}, r"target: required"),
        (
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "q"},
                    "target": {"type": "AverageValue", "averageValue": "lots"},
                },
            },
            "not a Kubernetes quantity",
        ),
        (
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
            "averageUtilization: a positive number",
        ),
    ],
)
def test_bad_specs_name_the_field(spec, message):
    with pytest.raises(MetricError, match=message):
        Metric.from_spec(spec)


def test_utilization_only_for_resources():
    with pytest.raises(MetricError, match="Resource metrics only"):
        Metric(MetricKind.EXTERNAL, "q", TargetType.UTILIZATION, 50)


def test_each_kind_reaches_kubernetes_arithmetic():
    pods = [ready("a", 300), ready("b", 500), ready("c", 700)]
    cpu = Metric.cpu_utilization(30)
    # TestReplicaCalcScaleUp: utilisation 50 % against 30 % on 3 pods -> 5
    assert propose(cpu, Source(pods), 3, 0.0, DEFAULT_SETTINGS).replicas == 5
    # External Value: 8600 against 4400 with 3 ready pods -> ceil(1.95 x 3) = 6
    ext = Metric(MetricKind.EXTERNAL, "q", TargetType.VALUE, 4400)
    assert propose(ext, Source(pods, 8600), 3, 0.0, DEFAULT_SETTINGS).replicas == 6
    # External AverageValue: 8600 / 2867 per pod -> 3 (within tolerance of 3 current)
    per_pod = Metric(MetricKind.EXTERNAL, "q", TargetType.AVERAGE_VALUE, 2867)
    assert propose(per_pod, Source(pods, 8600), 3, 0.0, DEFAULT_SETTINGS).replicas == 3
    obj = Metric(MetricKind.OBJECT, "rps", TargetType.AVERAGE_VALUE, 5000)
    assert propose(obj, Source(pods, 20000), 3, 0.0, DEFAULT_SETTINGS).replicas == 4
