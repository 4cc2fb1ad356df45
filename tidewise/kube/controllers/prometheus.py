"""Instant queries against the Prometheus HTTP API (``GET /api/v1/query``).

A query used as a metric must come down to one number: a scalar, or a vector whose samples
are summed (write ``sum(...)`` to make that explicit). No series, NaN or an error answer is
a metric error, which the HPA rules treat as "this metric says nothing".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import aiohttp


class PrometheusError(RuntimeError):
    """A query that gave no usable number; the message says which and why."""


@dataclass
class Prometheus:
    default_url: str | None
    timeout_s: float = 5.0
    _session: aiohttp.ClientSession | None = field(default=None, init=False)

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
                f"query {promql!r}: no Prometheus; set spec.prometheus.url or --prometheus-url"
            )
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        try:
            async with self._session.get(
                base.rstrip("/") + "/api/v1/query", params={"query": promql}
            ) as answer:
                body = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise PrometheusError(f"query {promql!r}: {base} unreachable ({error})") from None
        if body.get("status") != "success":
            raise PrometheusError(f"query {promql!r}: {body.get('error', 'failed')}")
        return body["data"]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
