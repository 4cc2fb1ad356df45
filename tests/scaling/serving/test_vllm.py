"""vLLM's metrics as signals: the PromQL each one runs, its target, the spec's errors, and the
most demanding signal winning through the HPA's arithmetic and tolerance."""

from collections.abc import Sequence

import pytest

from tidewise.scaling.hpa import HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric, TargetType
from tidewise.scaling.replica_calculator import PodSample
from tidewise.scaling.serving.vllm import VllmSignals, VllmSpecError, scope, signals_from_spec

SCOPE = scope("llm", "chat-predictor")


def by_name(signals: VllmSignals) -> dict[str, Metric]:
    return {m.name: m for m in signals.metrics(SCOPE)}


def test_the_default_scope_is_the_namespace_and_the_pods_names():
    # re.escape's backslash, doubled inside the PromQL string: the regex reads chat\-predictor
    assert SCOPE == 'namespace="llm",pod=~"chat\\\\-predictor-.+"'
    assert scope("llm", "x", {"model_name": 'a"b'}) == 'namespace="llm",model_name="a\\"b"'


def test_each_signal_is_a_scoped_query_with_its_target():
    metrics = by_name(
        VllmSignals(
            waiting=5,
            running=24,
            kv_cache=0.8,
            tokens_per_s=2500,
            ttft=signals_from_spec({"ttft": {"seconds": 2}}).ttft,  # type: ignore[union-attr]
        )
    )
    assert metrics["vllm-waiting"].query == f"sum(vllm:num_requests_waiting{{{SCOPE}}})"
    assert metrics["vllm-waiting"].target_type is TargetType.AVERAGE_VALUE
    assert metrics["vllm-waiting"].target == 5000
    assert metrics["vllm-running"].query == f"sum(vllm:num_requests_running{{{SCOPE}}})"
    kv = metrics["vllm-kv-cache"]
    assert kv.query == (
        f"avg(vllm:kv_cache_usage_perc{{{SCOPE}}} or vllm:gpu_cache_usage_perc{{{SCOPE}}})"
    )
    assert (kv.target_type, kv.target) == (TargetType.VALUE, 800)
    tokens = metrics["vllm-tokens"]
    assert tokens.query == (
        'sum(rate({__name__=~"vllm:prompt_tokens_total|vllm:generation_tokens_total",'
        f"{SCOPE}}}[1m]))"
    )
    ttft = metrics["vllm-ttft"]
    assert ttft.query == (
        "(histogram_quantile(0.95, sum by (le) "
        f"(rate(vllm:time_to_first_token_seconds_bucket{{{SCOPE}}}[1m]))) >= 0) or vector(0)"
    )
    assert (ttft.target_type, ttft.target) == (TargetType.VALUE, 2000)


def test_the_kv_metric_and_the_token_counters_can_be_chosen():
    signals = signals_from_spec(
        {
            "kvCacheUsage": 0.9,
            "kvCacheMetric": "gpu_cache_usage_perc",
            "tokensPerSecond": 900,
            "tokens": "generation",
            "window": "30s",
        }
    )
    assert signals is not None
    metrics = by_name(signals)
    assert metrics["vllm-kv-cache"].query == f"avg(vllm:gpu_cache_usage_perc{{{SCOPE}}})"
    assert '"vllm:generation_tokens_total"' in metrics["vllm-tokens"].query
    assert metrics["vllm-tokens"].query.endswith("[30s]))")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.vllm: give at least one of"),
        ({"waitingRequests": 0}, "spec.vllm.waitingRequests: a number > 0"),
        ({"waitingRequests": True}, "spec.vllm.waitingRequests: a number > 0"),
        ({"kvCacheUsage": 80}, "spec.vllm.kvCacheUsage: a fraction in (0, 1]"),
        ({"kvCacheUsage": 0.8, "kvCacheMetric": "kv"}, "spec.vllm.kvCacheMetric: one of"),
        ({"tokensPerSecond": 9, "tokens": "all"}, "spec.vllm.tokens: one of"),
        ({"ttft": {"seconds": 2, "percentile": 100}}, "spec.vllm.ttft.percentile"),
        ({"ttft": {"percentile": 95}}, "spec.vllm.ttft.seconds"),
        ({"waitingRequests": 5, "window": "1 minute"}, "spec.vllm.window"),
        ({"waitingRequests": 5, "selector": {"model-name": "x"}}, "spec.vllm.selector"),
        ("lots", "spec.vllm: a mapping"),
    ],
)
def test_a_bad_spec_names_the_field(spec, message):
    with pytest.raises(VllmSpecError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        signals_from_spec(spec)


class Values:
    """A MetricsSource: one value per signal, ``ready`` Ready pods."""

    def __init__(self, values: dict[str, float], ready: int) -> None:
        self.values, self.ready = values, ready

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        return [PodSample(f"p{i}") for i in range(self.ready)]

    def value(self, metric: Metric) -> int:
        return round(self.values[metric.name] * 1000)


def hpa(signals: VllmSignals, low: int = 0) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(low, 20, signals.metrics(SCOPE))


def test_the_most_demanding_signal_wins():
    signals = VllmSignals(
        waiting=5, kv_cache=0.8, ttft=signals_from_spec({"ttft": {"seconds": 2}}).ttft
    )  # type: ignore[union-attr]
    scaler = hpa(signals)
    # 4 replicas: 30 waiting wants 6; KV at 0.9 wants ceil(4 * 0.9 / 0.8) = 5; TTFT 3 s wants 6
    source = Values({"vllm-waiting": 30, "vllm-kv-cache": 0.9, "vllm-ttft": 3.0}, ready=4)
    each = {m.name: n for m, n in scaler.per_metric(source, 4, 0.0).items()}
    assert each == {"vllm-waiting": 6, "vllm-kv-cache": 5, "vllm-ttft": 6}
    source.values["vllm-ttft"] = 4.5  # wants ceil(4 * 4.5 / 2) = 9
    assert scaler.proposal(source, 4, 0.0) == 9


def test_within_the_tolerance_nothing_moves():
    scaler = hpa(VllmSignals(kv_cache=0.8))
    assert scaler.proposal(Values({"vllm-kv-cache": 0.85}, ready=4), 4, 0.0) == 4  # 6 % over
    assert scaler.proposal(Values({"vllm-kv-cache": 0.92}, ready=4), 4, 0.0) == 5  # 15 % over


def test_an_idle_service_asks_for_zero_and_a_queue_brings_it_back():
    scaler = hpa(VllmSignals(waiting=5, ttft=signals_from_spec({"ttft": {"seconds": 2}}).ttft))  # type: ignore[union-attr]
    assert scaler.proposal(Values({"vllm-waiting": 0, "vllm-ttft": 0}, ready=2), 2, 0.0) == 0
    # at zero: the buffered queue alone sizes the service (no Ready pod for the TTFT)
    assert scaler.proposal(Values({"vllm-waiting": 12, "vllm-ttft": 0}, ready=0), 0, 0.0) == 3
