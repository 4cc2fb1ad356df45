"""Instant queries against the Prometheus HTTP API (``GET /api/v1/query``), to the endpoints
the operator's administrator allows.

A query used as a metric must come down to one number: a scalar, or a vector whose samples
are summed (write ``sum(...)`` to make that explicit). No series, NaN or an error answer is
a metric error, which the HPA rules treat as "this metric says nothing".

Which Prometheus: the operator is configured with a default endpoint (``--prometheus-url``)
and named ones (``--prometheus-endpoint NAME=URL``, ``controllers.prometheus_endpoints``); an
object selects one by name (``spec.prometheus.endpoint``) or by its exact URL
(``spec.prometheus.url``, kept for manifests that name one). Any other URL is refused before a
request is made: whoever can create an ElasticScaler must not be able to make the operator,
from inside the cluster's network and with its identity, fetch what they choose (a cloud
metadata service, an internal admin page; an SSRF).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tidewise.kube.api.prometheus import PrometheusError, prometheus_data


class EndpointRefused(PrometheusError):
    """An object selects a Prometheus the operator was not configured with; nothing is asked."""


def _normal(url: str) -> str:
    return url.rstrip("/")


@dataclass(frozen=True)
class Endpoints:
    """The Prometheus endpoints objects may use: the default and the named ones."""

    default: str | None = None
    named: Mapping[str, str] = field(default_factory=dict)

    def allows(self, url: str) -> bool:
        return _normal(url) in {_normal(u) for u in (self.default, *self.named.values()) if u}

    def resolve(self, section: Mapping[str, Any] | None) -> str | None:
        """The URL a spec's ``prometheus`` section selects (``None``: no default either);
        :class:`EndpointRefused` names the field when it selects one not configured."""
        section = section or {}
        name, url = section.get("endpoint"), section.get("url")
        if name is not None and url is not None:
            raise EndpointRefused("spec.prometheus: give endpoint or url, not both")
        if name is not None:
            if name not in self.named:
                known = ", ".join(sorted(self.named)) or "none is configured"
                raise EndpointRefused(
                    f"spec.prometheus.endpoint: {name!r} is not one of the operator's "
                    f"Prometheus endpoints ({known})"
                )
            return self.named[name]
        if url is not None:
            if not isinstance(url, str) or not self.allows(url):
                raise EndpointRefused(
                    f"spec.prometheus.url: {url} is not a Prometheus the operator may query; "
                    "select one of its endpoints by name (spec.prometheus.endpoint), or ask "
                    "its administrator to add it (--prometheus-endpoint NAME=URL)"
                )
            return _normal(url)
        return self.default


@dataclass
class Prometheus:
    default_url: str | None
    endpoints: Mapping[str, str] = field(default_factory=dict)  # name -> URL, objects select
    timeout_s: float = 5.0
    _session: aiohttp.ClientSession | None = field(default=None, init=False)

    @property
    def allowed(self) -> Endpoints:
        return Endpoints(self.default_url, self.endpoints)

    def resolve(self, section: Mapping[str, Any] | None) -> str | None:
        return self.allowed.resolve(section)

    async def query(self, promql: str, url: str | None = None) -> float:
        data = await self._data(promql, url)
        if data["resultType"] == "scalar":
            value = float(data["result"][1])
        elif data["resultType"] == "vector":
            if not data["result"]:
                raise PrometheusError(f"query {promql!r} returned no series")
            value = sum(float(sample["value"][1]) for sample in data["result"])
        else:
            raise PrometheusError(f"query {promql!r}: a {data['resultType']}, not a number")
        if not math.isfinite(value):
            raise PrometheusError(f"query {promql!r} returned {value}")
        return value

    async def vector(
        self, promql: str, url: str | None = None
    ) -> list[tuple[dict[str, str], float]]:
        """Each series' labels and value (NaN and infinities left out)."""
        data = await self._data(promql, url)
        if data["resultType"] != "vector":
            raise PrometheusError(f"query {promql!r}: a {data['resultType']}, not a vector")
        series = [(s["metric"], float(s["value"][1])) for s in data["result"]]
        return [(labels, value) for labels, value in series if math.isfinite(value)]

    async def _data(self, promql: str, url: str | None) -> dict[str, Any]:
        base = url or self.default_url
        if not base:
            raise PrometheusError(
                f"query {promql!r}: no Prometheus; the operator needs --prometheus-url (or "
                "--prometheus-endpoint, selected by spec.prometheus.endpoint)"
            )
        if not self.allowed.allows(base):  # callers resolve first; this is the last guard
            raise EndpointRefused(f"query {promql!r}: {base} is not a configured endpoint")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return await prometheus_data(self._session, base, "/api/v1/query", {"query": promql})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
