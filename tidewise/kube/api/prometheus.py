"""One request to the Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``) and its
answer's ``data``, or a :class:`PrometheusError` saying which query failed and why: shared by
the controllers' metric queries and ``capture``'s range queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp


class PrometheusError(RuntimeError):
    """A query that gave no usable answer; the message says which and why."""


async def prometheus_data(
    session: aiohttp.ClientSession, base: str, path: str, params: Mapping[str, str]
) -> dict[str, Any]:
    """``data`` of the answer to ``GET base + path?params``; unreachable, not JSON or an
    ``error`` status is a :class:`PrometheusError` naming the query."""
    promql = params.get("query", "")
    try:
        async with session.get(base.rstrip("/") + path, params=dict(params)) as answer:
            body = await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise PrometheusError(f"query {promql!r}: {base} unreachable ({error})") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        why = body.get("error", "failed") if isinstance(body, dict) else "not a Prometheus answer"
        raise PrometheusError(f"query {promql!r}: {why}")
    data: dict[str, Any] = body["data"]
    return data
