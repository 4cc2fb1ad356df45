"""Kong's Admin API (default ``:8001``): one upstream, one target per cluster entry point.

Only target weights change at run time (``PATCH /upstreams/{u}/targets/{t}``, Kong >= 2.x); the
service, route and health checks are declared once, by hand or by the decK file
(``tidewise fleet deck``). With a database, other Kong nodes see a change after
``db_update_frequency`` (5 s by default): add that to the failover bound.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tidewise.gateways import GatewayError

MAX_WEIGHT = 65535


class KongAdmin:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace").strip()[:300]
            raise GatewayError(f"Kong {method} {path}: HTTP {err.code} {detail}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise GatewayError(f"Kong Admin API at {self.url}: {reason}") from None
        return json.loads(raw) if raw else None

    def _upstream(self, upstream: str) -> str:
        return f"/upstreams/{quote(upstream, safe='')}"

    def targets(self, upstream: str) -> list[dict[str, Any]]:
        """Every target of the upstream, following Kong's ``next`` pages."""
        found: list[dict[str, Any]] = []
        path: str | None = f"{self._upstream(upstream)}/targets"
        while path:
            page = self.call("GET", path)
            found.extend(page.get("data", []))
            path = page.get("next")
            if path and path.startswith(("http://", "https://")):
                path = path[len(self.url) :]
        return found

    def add_target(self, upstream: str, target: str, weight: int) -> None:
        body = {"target": target, "weight": weight}
        self.call("POST", f"{self._upstream(upstream)}/targets", body)

    def set_weight(self, upstream: str, target: str, weight: int) -> None:
        if not 0 <= weight <= MAX_WEIGHT:
            raise GatewayError(f"{upstream}/{target}: Kong weights are 0..{MAX_WEIGHT}")
        path = f"{self._upstream(upstream)}/targets/{quote(target, safe=':')}"
        self.call("PATCH", path, {"weight": weight})

    def health(self, upstream: str) -> dict[str, str]:
        """Kong's own view of each target (HEALTHY, UNHEALTHY, DNS_ERROR, HEALTHCHECKS_OFF)."""
        page = self.call("GET", f"{self._upstream(upstream)}/health")
        return {t["target"]: t.get("health", "") for t in page.get("data", [])}


class KongGateway:
    """The clusters as targets of one upstream (``targets``: cluster -> ``host:port``)."""

    def __init__(self, admin: KongAdmin, upstream: str, targets: Mapping[str, str]) -> None:
        self.admin = admin
        self.upstream = upstream
        self.targets = dict(targets)

    def read_weights(self) -> dict[str, int]:
        weights = {t["target"]: int(t["weight"]) for t in self.admin.targets(self.upstream)}
        return {c: weights.get(address, 0) for c, address in self.targets.items()}

    def apply(self, weights: Mapping[str, int]) -> None:
        present = {t["target"] for t in self.admin.targets(self.upstream)}
        for cluster in sorted(weights, key=lambda c: -weights[c]):  # as HAProxyGateway.apply
            address = self.targets[cluster]
            if address in present:
                self.admin.set_weight(self.upstream, address, weights[cluster])
            else:
                self.admin.add_target(self.upstream, address, weights[cluster])
