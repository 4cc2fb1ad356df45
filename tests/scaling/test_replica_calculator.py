"""The replica calculator against Kubernetes' own unit-test cases (data/), plus a few of ours.

The YAML mirrors the Go test inputs; `pods_from_go_harness` rebuilds what the Go harness builds
from them (two containers per pod, hot/cool start times, zero-time readiness transitions).
"""

from pathlib import Path

import pytest
import yaml

from tidewise.scaling import replica_calculator as rc
from tidewise.scaling.replica_calculator import CalculatorSettings, PodSample

DATA = yaml.safe_load(
    (Path(__file__).parent / "data" / "k8s_replica_calculator_cases.yaml").read_text()
)

NOW_S = 0.0
GO_ZERO_TIME_S = -6.4e10  # Go's zero time.Time (year 1), long before any "now"
START_S = {"hot": NOW_S, "cool": NOW_S - 180.0}
CONTAINERS = ("container1", "container2")
# The Go harness: tolerance 0.1, CPU initialization period 2 min, readiness delay 10 s.
GO_TEST_SETTINGS = CalculatorSettings(
    tolerance=0.1, cpu_initialization_period_s=120.0, initial_readiness_delay_s=10.0
)


def settings_for(case):
    tolerances = case.get("tolerances")
    if tolerances is None:
        return GO_TEST_SETTINGS
    return CalculatorSettings(
        scale_down_tolerance=tolerances["down"],
        scale_up_tolerance=tolerances["up"],
        cpu_initialization_period_s=120.0,
        initial_readiness_delay_s=10.0,
    )


def container_levels(levels):
    return [level if isinstance(level, list) else [level] * len(CONTAINERS) for level in levels]


def pods_from_go_harness(case):
    count = max(case["current_replicas"], len(case.get("phase", [])))
    names = [f"test-pod-{i}" for i in range(count)]
    samples = {}
    if case["kind"] == "resource":
        metric_names = case.get("metric_pod_names", [])
        for i, levels in enumerate(container_levels(case["levels"])):
            name = metric_names[i] if i < len(metric_names) else f"test-pod-{i}"
            samples[name] = pod_value(levels, case.get("container"))
    elif case["kind"] == "pods":
        samples = {f"test-pod-{i}": level for i, level in enumerate(case["metric_levels"])}
    requests = case.get("requests", [])
    per_pod = 1 if case.get("container") else len(CONTAINERS)
    pods = []
    for i, name in enumerate(names):
        start = case.get("start")
        pods.append(
            PodSample(
                name=name,
                phase=case.get("phase", ["Running"] * count)[i],
                ready=case.get("readiness", [True] * count)[i],
                start_s=START_S[start[i]] if start else GO_ZERO_TIME_S,
                ready_changed_s=GO_ZERO_TIME_S,
                deleting=case.get("deletion", [False] * count)[i],
                request=requests[i] * per_pod if i < len(requests) else None,
                value=samples.get(name),
                sample_s=GO_ZERO_TIME_S,
                window_s=60.0,
            )
        )
    return pods


def pod_value(levels, container):
    """A pod's sample: one container's, or the sum when every container reported."""
    if container is None:
        return sum(levels) if len(levels) == len(CONTAINERS) else None
    index = CONTAINERS.index(container)
    return levels[index] if index < len(levels) else None


def calculate(case):
    settings = settings_for(case)
    pods = pods_from_go_harness(case)
    current, target, kind = case["current_replicas"], case["target"], case["kind"]
    levels = case.get("metric_levels", [])
    if kind == "resource":
        return rc.resource_utilization_replicas(pods, current, target, NOW_S, settings=settings)
    if kind == "pods":
        return rc.pods_metric_replicas(pods, current, target, settings=settings)
    if kind == "object":
        return rc.object_metric_replicas(levels[0], current, target, pods, settings=settings)
    if kind == "object_per_pod":
        return rc.object_average_value_replicas(levels[0], current, target, settings=settings)
    if kind == "external":
        return rc.external_metric_replicas(levels, current, target, pods, settings=settings)
    if kind == "external_per_pod":
        return rc.external_average_value_replicas(levels, current, target, settings=settings)
    raise AssertionError(f"unknown kind {kind}")


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_kubernetes_replica_calculator_case(case):
    if "expected_error" in case:
        with pytest.raises(getattr(rc, case["expected_error"])):
            calculate(case)
        return
    result = calculate(case)
    assert result.replicas == case["expected_replicas"]
    if case["kind"] == "resource":
        assert result.usage == case["expected_utilization"]
        assert result.average_value == case["expected_value"]
    else:
        assert result.usage == case["expected_usage"]


@pytest.mark.parametrize("case", DATA["group_pods_cases"], ids=lambda c: c["name"])
def test_kubernetes_group_pods_case(case):
    pods = [PodSample(**{"phase": "Succeeded", **pod}) for pod in case["pods"]]
    groups = rc.group_pods(pods, NOW_S, cpu=case["cpu"], settings=GO_TEST_SETTINGS)
    expected = case["expected"]
    assert groups.ready_count == expected["ready"]
    assert groups.unready == set(expected["unready"])
    assert groups.missing == set(expected["missing"])
    assert groups.ignored == set(expected["ignored"])


# --- hand-worked cases of our own -----------------------------------------------------------


def running(name, value, request=1000, start_s=-1000.0):
    return PodSample(
        name, start_s=start_s, ready_changed_s=start_s + 5, request=request, value=value
    )


def test_no_pods_is_an_error():
    with pytest.raises(rc.NoPodsError):
        rc.resource_utilization_replicas([], 3, 50, 0.0)
    with pytest.raises(rc.NoPodsError):
        rc.pods_metric_replicas([], 3, 1000)


def test_memory_samples_are_trusted_during_start_up():
    # A pod that started a second ago: its CPU sample is distrusted, its memory sample is not.
    # 900 of 1000 requested at a 50 % target: ratio 1.8, ceil(1.8 * 1) = 2.
    pods = [running("a", 900, start_s=-1.0)]
    with pytest.raises(rc.NoMetricsError):
        rc.resource_utilization_replicas(pods, 1, 50, 0.0)
    assert rc.resource_utilization_replicas(pods, 1, 50, 0.0, cpu=False).replicas == 2


def test_average_value_resource_target():
    # Two pods at 600 m and 1000 m against 400 m per pod: average 800, ratio 2, 2 * 2 = 4.
    pods = [running("a", 600), running("b", 1000)]
    result = rc.resource_average_value_replicas(pods, 2, 400, 0.0)
    assert (result.replicas, result.usage) == (4, 800)


def test_object_value_from_zero_replicas_ignores_tolerance():
    # Scale from zero: ceil(ratio), even for a ratio of 1.05 that the band would swallow.
    assert rc.object_metric_replicas(1050, 0, 1000, []).replicas == 2


def test_within_tolerance_band_edges_are_inclusive():
    settings = CalculatorSettings(tolerance=0.1)
    assert settings.within_tolerance(1.1)
    assert settings.within_tolerance(0.9)
    assert not settings.within_tolerance(1.1000001)
