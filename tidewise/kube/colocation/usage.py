"""Each pod's CPU and memory usage now, from Prometheus.

The default queries read the kubelet's cAdvisor series, which every Prometheus that scrapes
the kubelets has (kube-prometheus, the Prometheus Helm chart): ``container_cpu_usage_seconds_total``
as a rate and ``container_memory_working_set_bytes`` (the kubelet's eviction signal for
memory, kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction), summed per
pod. ``irate`` reacts at the next scrape, which eviction needs; both are configurable
(``colocation.cpu_query`` / ``memory_query``) and must answer one sample per pod labelled
``namespace`` and ``pod``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from tidewise.kube.api.prometheus import PrometheusError, prometheus_data
from tidewise.model import Resources

CPU_QUERY = 'sum by (namespace, pod) (irate(container_cpu_usage_seconds_total{container!=""}[2m]))'
MEMORY_QUERY = 'sum by (namespace, pod) (container_memory_working_set_bytes{container!=""})'
PodKey = tuple[str, str]


async def per_pod(
    session: aiohttp.ClientSession, url: str, query: str, scale: float
) -> dict[PodKey, int]:
    """``query``'s samples by (namespace, pod), times ``scale``, rounded up."""
    data = await prometheus_data(session, url, "/api/v1/query", {"query": query})
    if data.get("resultType") != "vector":
        raise PrometheusError(f"query {query!r}: a vector by namespace and pod, not {data}")
    found: dict[PodKey, int] = {}
    for sample in data.get("result") or []:
        labels = sample.get("metric") or {}
        value = float(sample["value"][1])
        if "namespace" in labels and "pod" in labels and math.isfinite(value):
            found[labels["namespace"], labels["pod"]] = math.ceil(round(value * scale, 6))
    return found


@dataclass(frozen=True)
class PodUsage:
    """Each pod's usage by (namespace, pod): milli-CPU and MiB, each only for the pods its
    query answered for (a series can appear in one query before the other: a rate needs two
    scrapes)."""

    cpu_milli: Mapping[PodKey, int]
    memory_mib: Mapping[PodKey, int]

    def of(self, key: PodKey, otherwise: Resources) -> Resources:
        """The pod's usage, each resource not measured taken from ``otherwise``."""
        return Resources(
            cpu_milli=self.cpu_milli.get(key, otherwise.cpu_milli),
            memory_mib=self.memory_mib.get(key, otherwise.memory_mib),
        )


async def pod_usage(
    url: str, cpu_query: str, memory_query: str, timeout_s: float = 5.0
) -> PodUsage:
    """Every pod's usage, as the two queries answer now."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cpu = await per_pod(session, url, cpu_query, 1000)
        memory = await per_pod(session, url, memory_query, 1 / 2**20)
    return PodUsage(cpu, memory)
