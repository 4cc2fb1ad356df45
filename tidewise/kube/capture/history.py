"""Each captured service's history from Prometheus: a range query (``/api/v1/query_range``)
over the window, in pieces Prometheus accepts, with the first of a list of query templates
that has a series.

The default templates, tried in order, are the request-rate metrics of the common meshes,
ingresses and instrumentation libraries, then CPU usage (cAdvisor's, which every kubelet
exports) as the fallback signal:

- Istio's ``istio_requests_total`` (standard metrics, reported by the destination), by
  ``destination_workload`` and ``destination_workload_namespace``;
- ingress-nginx's ``nginx_ingress_controller_requests``, by ``service`` and
  ``exported_namespace`` (the ingress's namespace once Prometheus' own ``namespace`` label
  has taken the controller's);
- ``http_requests_total`` (the Prometheus client libraries' convention), by ``namespace`` and
  ``pod``;
- ``container_cpu_usage_seconds_total``, by ``namespace`` and ``pod``: CPU cores in use.

A template is PromQL with ``$namespace``, ``$name`` (the workload), ``$pods`` (a regular
expression of its pods' names) and ``$rate_window`` put in (``string.Template``, so PromQL's
own braces need no escaping).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from string import Template

import aiohttp

from tidewise.kube.api.prometheus import PrometheusError, prometheus_data

MAX_POINTS = 10_000
"""Points per range query: Prometheus refuses more than 11,000 per series
(``exceeded maximum resolution of 11,000 points per timeseries``, web/api/v1/api.go)."""


class Signal(StrEnum):
    """What a series measures: requests per second, or CPU cores in use."""

    REQUESTS = "requests"
    CPU = "cpu"


@dataclass(frozen=True)
class QueryTemplate:
    name: str
    promql: str
    signal: Signal = Signal.REQUESTS

    def for_workload(self, namespace: str, name: str, kind: str, rate_window: str) -> str:
        return Template(self.promql).substitute(
            namespace=namespace, name=name, pods=pod_pattern(name, kind), rate_window=rate_window
        )


DEFAULT_QUERIES = (
    QueryTemplate(
        "istio",
        'sum(rate(istio_requests_total{reporter="destination",'
        'destination_workload_namespace="$namespace",destination_workload="$name"}'
        "[$rate_window]))",
    ),
    QueryTemplate(
        "nginx",
        'sum(rate(nginx_ingress_controller_requests{exported_namespace="$namespace",'
        'service="$name"}[$rate_window]))',
    ),
    QueryTemplate(
        "http",
        'sum(rate(http_requests_total{namespace="$namespace",pod=~"$pods"}[$rate_window]))',
    ),
    QueryTemplate(
        "cpu",
        'sum(rate(container_cpu_usage_seconds_total{namespace="$namespace",pod=~"$pods",'
        'container!="",container!="POD"}[$rate_window]))',
        Signal.CPU,
    ),
)


def pod_pattern(name: str, kind: str) -> str:
    """The names of a workload's pods: a Deployment's ``NAME-<template hash>-<suffix>``, a
    StatefulSet's ``NAME-<ordinal>`` (so ``web`` does not also match ``web-admin``'s pods)."""
    if kind == "StatefulSet":
        return f"{name}-[0-9]+"
    return f"{name}-[a-z0-9]+-[a-z0-9]+"


@dataclass(frozen=True)
class History:
    """A service's samples on the window's grid (NaN where Prometheus had none)."""

    query: str
    template: str
    signal: Signal
    values: list[float]


async def range_values(
    session: aiohttp.ClientSession, url: str, promql: str, start: float, end: float, step: float
) -> list[float] | None:
    """The one series' values at ``start, start + step, ... <= end`` (NaN where absent), or
    ``None`` when the query has no series; several series are an error (aggregate them)."""
    points = int((end - start) // step) + 1
    values = [math.nan] * points
    seen = False
    for first in range(0, points, MAX_POINTS):
        last = min(first + MAX_POINTS, points) - 1
        params = {
            "query": promql,
            "start": f"{start + first * step:.3f}",
            "end": f"{start + last * step:.3f}",
            "step": f"{step:g}",
        }
        data = await prometheus_data(session, url, "/api/v1/query_range", params)
        series = data.get("result") or []
        if len(series) > 1:
            raise PrometheusError(
                f"query {promql!r}: {len(series)} series where one is needed; aggregate it "
                "with sum(...)"
            )
        for stamp, text in series[0]["values"] if series else []:
            at = round((float(stamp) - start) / step)
            if 0 <= at < points:
                values[at] = float(text)
                seen = True
    return values if seen else None


async def history_of(
    session: aiohttp.ClientSession,
    url: str,
    templates: Sequence[QueryTemplate],
    workload: tuple[str, str, str],
    window: tuple[float, float, float],
    rate_window: str,
) -> History | None:
    """The first template's series that exists for ``workload`` (namespace, name, kind) over
    ``window`` (start, end, step); ``None`` when none has one."""
    namespace, name, kind = workload
    for template in templates:
        promql = template.for_workload(namespace, name, kind, rate_window)
        values = await range_values(session, url, promql, *window)
        if values is not None:
            return History(promql, template.name, template.signal, values)
    return None
