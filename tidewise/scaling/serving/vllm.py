"""vLLM's Prometheus metrics as autoscaling signals: each one a PromQL query and a target.

An ElasticScaler's ``spec.vllm`` names the signals it scales on; each becomes an External
metric (``tidewise.scaling.metrics.Metric`` with a ``query``), so it goes through Kubernetes'
HPA arithmetic like any other metric: every signal proposes a replica count, the most
demanding one wins, and the tolerance, stabilisation windows and rate limits of the
scaler's behaviour apply on top. Two target shapes, as the HPA's:

* per replica (an ``AverageValue`` target: ``desired = ceil(total / target)``): waiting
  requests (``vllm:num_requests_waiting``), running requests (``vllm:num_requests_running``)
  and token throughput (the per-second rate of ``vllm:prompt_tokens_total`` and/or
  ``vllm:generation_tokens_total``), all summed over the target's servers;
* a level to hold (a ``Value`` target: ``desired = ceil(ready * value / target)``): the mean
  KV-cache use of the servers (0-1), and a TTFT percentile from the histogram
  ``vllm:time_to_first_token_seconds`` (``histogram_quantile`` over the summed bucket rates).

The KV-cache gauge was ``vllm:gpu_cache_usage_perc`` until vllm-project/vllm#18354 (merged
May 2025) added ``vllm:kv_cache_usage_perc`` and deprecated the old name; vLLM hides a metric
one minor release after deprecating it and then removes it (vllm-project/vllm#29330, November
2025, removed ``gpu_cache_usage_perc``). ``auto`` reads the new name where a server exports
it and the old one elsewhere (``new or old``: PromQL's ``or`` keeps the old series only where
no new one has the same labels), so one spec serves a fleet midway through an upgrade.

Every query is scoped by label matchers (``scope``): the target's namespace and either its
pods' name prefix or the labels the spec gives (e.g. ``model_name``, which vLLM puts on every
series). A TTFT with no request in the window is NaN in Prometheus; it is read as 0 (it says
nothing against scaling down) rather than as a failed metric that would block it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.scaling.metrics import Metric, MetricKind, TargetType

KV_NAMES = {
    "kv_cache_usage_perc": ("vllm:kv_cache_usage_perc",),
    "gpu_cache_usage_perc": ("vllm:gpu_cache_usage_perc",),
    "auto": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}
TOKEN_COUNTERS = {
    "prompt": ("vllm:prompt_tokens_total",),
    "generation": ("vllm:generation_tokens_total",),
    "both": ("vllm:prompt_tokens_total", "vllm:generation_tokens_total"),
}
WINDOW = re.compile(r"^[1-9][0-9]*(s|m|h)$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class VllmSpecError(ValueError):
    """A ``spec.vllm`` that cannot run; the message names the field and the fix."""


@dataclass(frozen=True)
class Ttft:
    percentile: float  # e.g. 95
    seconds: float  # the objective for that percentile


@dataclass(frozen=True)
class VllmSignals:
    """``spec.vllm``: the signals and their targets (None: that signal is not used)."""

    waiting: float | None = None  # waiting requests per replica
    running: float | None = None  # running requests per replica
    kv_cache: float | None = None  # mean KV-cache use to hold, 0-1
    kv_metric: str = "auto"
    tokens_per_s: float | None = None  # tokens a second per replica
    tokens: str = "both"
    ttft: Ttft | None = None
    window: str = "1m"  # the rate window of the counters and the histogram
    selector: Mapping[str, str] | None = None  # replaces the pod-name matcher

    def metrics(self, scope: str) -> tuple[Metric, ...]:
        """The External metrics of the signals in use, each query scoped by ``scope``."""
        found: list[Metric] = []

        def add(name: str, target_type: TargetType, target: float, query: str) -> None:
            found.append(
                Metric(MetricKind.EXTERNAL, name, target_type, round(target * 1000), query)
            )

        per_replica = TargetType.AVERAGE_VALUE
        if self.waiting is not None:
            add(
                "vllm-waiting",
                per_replica,
                self.waiting,
                f"sum(vllm:num_requests_waiting{{{scope}}})",
            )
        if self.running is not None:
            add(
                "vllm-running",
                per_replica,
                self.running,
                f"sum(vllm:num_requests_running{{{scope}}})",
            )
        if self.kv_cache is not None:
            series = " or ".join(f"{name}{{{scope}}}" for name in KV_NAMES[self.kv_metric])
            add("vllm-kv-cache", TargetType.VALUE, self.kv_cache, f"avg({series})")
        if self.tokens_per_s is not None:
            names = "|".join(TOKEN_COUNTERS[self.tokens])
            counters = f'{{__name__=~"{names}",{scope}}}'
            add(
                "vllm-tokens",
                per_replica,
                self.tokens_per_s,
                f"sum(rate({counters}[{self.window}]))",
            )
        if self.ttft is not None:
            buckets = f"rate(vllm:time_to_first_token_seconds_bucket{{{scope}}}[{self.window}])"
            quantile = (
                f"histogram_quantile({self.ttft.percentile / 100:g}, sum by (le) ({buckets}))"
            )
            add("vllm-ttft", TargetType.VALUE, self.ttft.seconds, f"({quantile} >= 0) or vector(0)")
        return tuple(found)


def scope(namespace: str, pod_prefix: str, selector: Mapping[str, str] | None = None) -> str:
    """The label matchers of a target's series: its namespace, and its pods' names (a
    Deployment's pods are ``<name>-<hash>-<hash>``) unless ``selector`` names other labels.
    Label names are Prometheus' defaults for pods found by Kubernetes service discovery."""
    matchers = [f'namespace="{_quoted(namespace)}"']
    if selector:
        matchers += [f'{key}="{_quoted(value)}"' for key, value in sorted(selector.items())]
    else:
        matchers.append(f'pod=~"{_quoted(re.escape(pod_prefix))}-.+"')
    return ",".join(matchers)


def _quoted(value: str) -> str:
    """``value`` inside a PromQL double-quoted string (Go's escapes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def signals_from_spec(raw: object, where: str = "spec.vllm") -> VllmSignals | None:
    """Read ``spec.vllm`` (None when absent); :class:`VllmSpecError` names the field."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise VllmSpecError(f"{where}: a mapping, e.g. {{waitingRequests: 5}}")
    ttft = _ttft(raw.get("ttft"), f"{where}.ttft")
    kv_metric = raw.get("kvCacheMetric", "auto")
    if kv_metric not in KV_NAMES:
        raise VllmSpecError(f"{where}.kvCacheMetric: one of {', '.join(sorted(KV_NAMES))}")
    tokens = raw.get("tokens", "both")
    if tokens not in TOKEN_COUNTERS:
        raise VllmSpecError(f"{where}.tokens: one of {', '.join(TOKEN_COUNTERS)}")
    window = raw.get("window", "1m")
    if not isinstance(window, str) or not WINDOW.match(window):
        raise VllmSpecError(f"{where}.window: a Prometheus duration such as 30s, 1m or 5m")
    kv_cache = _positive(raw, "kvCacheUsage", where)
    if kv_cache is not None and kv_cache > 1:
        raise VllmSpecError(f"{where}.kvCacheUsage: a fraction in (0, 1], e.g. 0.8")
    signals = VllmSignals(
        waiting=_positive(raw, "waitingRequests", where),
        running=_positive(raw, "runningRequests", where),
        kv_cache=kv_cache,
        kv_metric=kv_metric,
        tokens_per_s=_positive(raw, "tokensPerSecond", where),
        tokens=tokens,
        ttft=ttft,
        window=window,
        selector=_selector(raw.get("selector"), f"{where}.selector"),
    )
    if not signals.metrics("x"):
        raise VllmSpecError(
            f"{where}: give at least one of waitingRequests, runningRequests, kvCacheUsage, "
            "tokensPerSecond, ttft"
        )
    return signals


def _positive(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise VllmSpecError(f"{where}.{key}: a number > 0")
    return float(value)


def _ttft(raw: object, where: str) -> Ttft | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise VllmSpecError(f"{where}: a mapping, e.g. {{percentile: 95, seconds: 2}}")
    percentile, seconds = raw.get("percentile", 95), raw.get("seconds")
    if isinstance(percentile, bool) or not isinstance(percentile, int | float):
        raise VllmSpecError(f"{where}.percentile: a number in (0, 100)")
    if not 0 < percentile < 100:
        raise VllmSpecError(f"{where}.percentile: a number in (0, 100)")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise VllmSpecError(f"{where}.seconds: the objective in seconds, > 0")
    return Ttft(float(percentile), float(seconds))


def _selector(raw: object, where: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise VllmSpecError(f"{where}: label matchers, e.g. {{model_name: llama-3-8b}}")
    for key, value in raw.items():
        if not isinstance(key, str) or not LABEL.match(key):
            raise VllmSpecError(f"{where}: {key!r} is not a Prometheus label name")
        if not isinstance(value, str) or not value:
            raise VllmSpecError(f"{where}.{key}: a non-empty string")
    return dict(raw)
