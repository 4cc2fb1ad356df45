"""What an LLM serving policy sees each period, in the shapes a real cluster exposes them.

The twin fills it from its simulated servers; on a cluster the same numbers come from vLLM's
Prometheus metrics (``vllm:num_requests_waiting`` and ``vllm:num_requests_running``,
``vllm:kv_cache_usage_perc``, the prompt and generation token counters), Knative's
queue-proxy concurrency, and DCGM's ``DCGM_FI_DEV_GPU_UTIL`` (nvidia-smi's utilisation: the
fraction of the sample period in which a kernel ran). Histories are per ``history_step_s``,
oldest first, complete steps only, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tidewise.scaling.observation import ReplicaDecision


@dataclass(frozen=True, slots=True)
class ServingObservation:
    now_s: float
    replicas: int  # the count asked for now (spec.replicas)
    ready: int
    starting: int
    waiting: int  # requests not yet admitted by a server: router queue and activator buffer
    running: int  # requests admitted and not finished
    concurrency: float  # mean of waiting + running over the last period (Knative's metric)
    pod_busy: tuple[float, ...]  # per Ready pod: GPU busy fraction over the last period
    kv_usage: float  # mean KV-cache use of the Ready pods, 0-1
    history_step_s: float
    arrivals: np.ndarray  # requests that arrived in each step
    prompt_tokens: np.ndarray  # their prompt tokens
    completions: np.ndarray  # requests finished in each step
    output_tokens: np.ndarray  # tokens generated for them

    def recent(self, series: np.ndarray, seconds: float) -> float:
        """Sum of ``series`` over the last ``seconds`` of complete history steps."""
        steps = max(1, round(seconds / self.history_step_s))
        return float(series[-steps:].sum())


class ServingPolicy(Protocol):
    """A pure function object: observation in, desired replica count out. State that a
    controller keeps between syncs (windows, timers) lives in the object's own fields."""

    @property
    def period_s(self) -> float: ...

    def recommend(self, obs: ServingObservation) -> ReplicaDecision: ...
