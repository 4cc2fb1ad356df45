"""The HPA-based serving baselines: KServe raw deployment on GPU utilisation, and KEDA on
waiting requests. Both run Kubernetes' exact HPA arithmetic (``tidewise.scaling.hpa``).

``GpuUtilizationHpa``: a Pods metric, the GPU utilisation DCGM exports per pod
(``DCGM_FI_DEV_GPU_UTIL``, what nvidia-smi reports: the share of the sample period in which a
kernel ran), with an average-value target in percent. Starting pods export nothing yet, which
the HPA counts as missing (0 % when scaling up, 100 % when scaling down). No ``behavior``:
KServe creates the HPA without one, so Kubernetes' defaults apply (5-minute scale-down
stabilisation, scale-up at most doubling). An LLM server keeps its GPU busy whenever it holds
one request, so this metric saturates long before the server does: the baseline users start
from, and why LLM autoscalers moved to queue and KV-cache signals.

``KedaQueueScaler``: KEDA's Prometheus scaler on ``sum(vllm:num_requests_waiting)``. KEDA
makes an HPA with an External metric whose average-value target is the threshold, so
``desired = ceil(waiting / threshold)`` (with the HPA's tolerance and behaviour), and does
0 -> 1 itself: every polling interval (30 s) the trigger is active when the metric exceeds
the activation threshold (0); an inactive target goes to ``min_replica_count`` (0) once
the cooldown (300 s) has passed since it was last active. With no replica there is no vLLM to
report a queue: the count includes requests a buffering front holds (the KEDA HTTP add-on's
interceptor), or KEDA could never scale from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewise.scaling.hpa import SYNC_PERIOD_S, HorizontalPodAutoscaler
from tidewise.scaling.metrics import Metric, MetricKind, TargetType
from tidewise.scaling.observation import ReplicaDecision
from tidewise.scaling.replica_calculator import PodSample, ReplicaCalculationError
from tidewise.scaling.serving.observation import ServingObservation

GPU_METRIC = "DCGM_FI_DEV_GPU_UTIL"
WAITING_QUERY = "sum(vllm:num_requests_waiting)"


@dataclass(frozen=True)
class _Samples:
    """A ``MetricsSource`` over one observation: per-pod GPU utilisation, total waiting."""

    obs: ServingObservation

    def pods(self, metric: Metric) -> Sequence[PodSample]:
        ready = [
            PodSample(f"ready-{i}", value=round(busy * 100 * 1000), sample_s=self.obs.now_s)
            for i, busy in enumerate(self.obs.pod_busy)
        ]
        starting = [
            PodSample(f"starting-{i}", ready=False, start_s=self.obs.now_s)
            for i in range(self.obs.starting)
        ]
        return ready + starting

    def value(self, metric: Metric) -> int:
        return round(self.obs.waiting * 1000)


def _hpa_step(hpa: HorizontalPodAutoscaler, obs: ServingObservation) -> ReplicaDecision:
    try:
        desired = hpa.proposal(_Samples(obs), obs.replicas, obs.now_s)
    except ReplicaCalculationError:
        desired = None
    if desired is None:
        return ReplicaDecision(obs.replicas, "no metrics")
    decision = hpa.settle(obs.now_s, obs.replicas, desired)
    return ReplicaDecision(decision.replicas, "hpa")


@dataclass
class GpuUtilizationHpa:
    target_percent: float = 80.0
    min_replicas: int = 1
    max_replicas: int = 64
    period_s: float = SYNC_PERIOD_S
    hpa: HorizontalPodAutoscaler = field(init=False)

    def __post_init__(self) -> None:
        metric = Metric(
            MetricKind.PODS, GPU_METRIC, TargetType.AVERAGE_VALUE, round(self.target_percent * 1000)
        )
        self.hpa = HorizontalPodAutoscaler(
            max(1, self.min_replicas), self.max_replicas, (metric,), None
        )

    def recommend(self, obs: ServingObservation) -> ReplicaDecision:
        return _hpa_step(self.hpa, obs)


@dataclass
class KedaQueueScaler:
    threshold: float = 5.0
    activation_threshold: float = 0.0
    min_replica_count: int = 0
    max_replica_count: int = 64
    polling_interval_s: float = 30.0
    cooldown_s: float = 300.0
    period_s: float = SYNC_PERIOD_S
    hpa: HorizontalPodAutoscaler = field(init=False)
    last_active_s: float | None = None
    next_poll_s: float = 0.0

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise ValueError("threshold must be > 0")
        metric = Metric(
            MetricKind.EXTERNAL,
            "vllm_waiting",
            TargetType.AVERAGE_VALUE,
            round(self.threshold * 1000),
            query=WAITING_QUERY,
        )
        self.hpa = HorizontalPodAutoscaler(
            max(1, self.min_replica_count), self.max_replica_count, (metric,), None
        )

    def recommend(self, obs: ServingObservation) -> ReplicaDecision:
        now = obs.now_s
        if self.last_active_s is None:
            self.last_active_s = now
        if now >= self.next_poll_s:
            self.next_poll_s = now + self.polling_interval_s
            active = obs.waiting > self.activation_threshold
            if active:
                self.last_active_s = now
                if obs.replicas == 0:
                    return ReplicaDecision(max(1, self.min_replica_count), "activate")
            elif (
                obs.replicas > self.min_replica_count
                and self.min_replica_count == 0
                and now >= self.last_active_s + self.cooldown_s
            ):
                return ReplicaDecision(0, "cooldown")
        if obs.replicas == 0:
            return ReplicaDecision(0, "inactive")
        return _hpa_step(self.hpa, obs)
