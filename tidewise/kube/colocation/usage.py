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


async def pod_usage(
    url: str, cpu_query: str, memory_query: str, timeout_s: float = 5.0
) -> Mapping[PodKey, Resources]:
    """Every pod's usage (milli-CPU, MiB); a pod with one of the two only has the other 0."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cpu = await per_pod(session, url, cpu_query, 1000)
        memory = await per_pod(session, url, memory_query, 1 / 2**20)
    return {
        key: Resources(cpu_milli=cpu.get(key, 0), memory_mib=memory.get(key, 0))
        for key in cpu.keys() | memory.keys()
    }
