"""Kong's Admin API (default ``:8001``): one upstream, one target per cluster entry point.

Kong runs in one of two modes, and they take weights differently (Kong's documentation,
"DB-less and declarative configuration"; ``kong/api/routes/config.lua`` in Kong's source):

* **With a database** (``database = postgres``): targets are entities of the Admin API;
  ``PATCH /upstreams/{u}/targets/{t}`` (Kong >= 2.x) sets one weight, ``POST`` adds a target.
  Other Kong nodes see a change after ``db_update_frequency`` (5 s by default): add that to
  the failover bound.
* **DB-less** (``database = off``, the usual mode on Kubernetes): the entity endpoints are
  read-only; a write answers ``405`` ``{"code": 12, "name": "operation unsupported",
  "message": "cannot update 'targets' entities when not using a database"}``. The whole
  configuration is replaced instead: ``GET /config`` answers ``{"config": "<YAML>"}`` (the
  node's configuration, format 3.0, ``_transform: false``, one flat list per entity kind,
  foreign keys as ids) and ``POST /config`` with ``{"config": "<YAML or JSON>"}`` loads a new
  one (``201``; ``check_hash=1`` answers ``304`` when nothing changed). Each node holds its
  own configuration: give every node's Admin API, or put the weights in the file the nodes
  load. When the Kong Ingress Controller owns the node's configuration it rewrites it on its
  next sync, undoing what tidewise wrote (docs/traffic.md).

``GET /`` tells the mode (``configuration.database``); :class:`KongGateway` asks it at its
first call and keeps the answer, unless the traffic file names the mode (``kong_mode``).
Only target weights change at run time in either mode; the service, route and health checks
are declared once, by hand or by the decK file (``tidewise fleet deck``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import yaml

from tidewise.gateways import GatewayError

MAX_WEIGHT = 65535
Mode = Literal["db", "dbless"]
READ_ONLY = 405  # a write to an entity endpoint of DB-less Kong
NOT_MODIFIED = 304


class KongAdmin:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Kong's answer as JSON (``None`` for an empty one); any other answer, a refusal or
        no answer at all is a :class:`GatewayError` naming the call."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            if err.code == NOT_MODIFIED:  # POST /config?check_hash=1: already loaded
                return None
            detail = err.read().decode(errors="replace").strip()[:300]
            hint = ""
            if err.code == READ_ONLY and method != "GET":
                hint = (
                    " (this Kong is DB-less: its Admin API is read-only; set gateway.kong_mode "
                    "to dbless or auto to write through POST /config)"
                )
            raise GatewayError(f"Kong {method} {path}: HTTP {err.code} {detail}{hint}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise GatewayError(f"Kong Admin API at {self.url}: {reason}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            shown = raw[:120].decode(errors="replace").strip()
            raise GatewayError(
                f"Kong {method} {path}: the answer is not JSON ({kind or 'no content type'}: "
                f"{shown!r}); is --admin-url Kong's Admin API (port 8001), not its proxy?"
            ) from None

    def get_object(self, path: str) -> dict[str, Any]:
        """``GET path``, which Kong answers with a JSON object."""
        answer = self.call("GET", path)
        if not isinstance(answer, dict):
            raise GatewayError(f"Kong GET {path}: expected a JSON object, got {answer!r:.100}")
        return answer

    def mode(self) -> Mode:
        """``dbless`` when Kong runs without a database (``GET /``: configuration.database
        is ``off``), else ``db``."""
        configuration = self.get_object("/").get("configuration")
        if not isinstance(configuration, dict) or "database" not in configuration:
            raise GatewayError("Kong GET /: no configuration.database; is this Kong's Admin API?")
        return "dbless" if configuration["database"] == "off" else "db"

    def _upstream(self, upstream: str) -> str:
        return f"/upstreams/{quote(upstream, safe='')}"

    def targets(self, upstream: str) -> list[dict[str, Any]]:
        """Every target of the upstream, following Kong's ``next`` pages."""
        found: list[dict[str, Any]] = []
        path: str | None = f"{self._upstream(upstream)}/targets"
        while path:
            page = self.get_object(path)
            data = page.get("data")
            if not isinstance(data, list) or not all(_is_target(t) for t in data):
                raise GatewayError(f"Kong GET {path}: expected data: [{{target, weight}}...]")
            found.extend(data)
            path = page.get("next")
            if path and path.startswith(("http://", "https://")):
                path = path[len(self.url) :]
        return found

    def add_target(self, upstream: str, target: str, weight: int) -> None:
        body = {"target": target, "weight": weight}
        self.call("POST", f"{self._upstream(upstream)}/targets", body)

    def set_weight(self, upstream: str, target: str, weight: int) -> None:
        check_weight(upstream, target, weight)
        path = f"{self._upstream(upstream)}/targets/{quote(target, safe=':')}"
        self.call("PATCH", path, {"weight": weight})

    def health(self, upstream: str) -> dict[str, str]:
        """Kong's own view of each target (HEALTHY, UNHEALTHY, DNS_ERROR, HEALTHCHECKS_OFF)."""
        page = self.get_object(f"{self._upstream(upstream)}/health")
        return {t["target"]: t.get("health", "") for t in page.get("data", []) if _is_target(t)}

    def declarative(self) -> dict[str, Any]:
        """DB-less: the node's whole configuration, as ``GET /config`` exports it."""
        answer = self.get_object("/config")
        try:
            document = yaml.safe_load(answer["config"])
        except (KeyError, TypeError, yaml.YAMLError) as err:
            raise GatewayError(f"Kong GET /config: no declarative configuration ({err})") from None
        if not isinstance(document, dict) or "_format_version" not in document:
            raise GatewayError("Kong GET /config: not a declarative configuration")
        return document

    def load(self, document: Mapping[str, Any]) -> None:
        """DB-less: replace the node's configuration (``POST /config?check_hash=1``; Kong
        answers 304 when it is the one loaded already)."""
        self.call("POST", "/config?check_hash=1", {"config": json.dumps(document)})


def _is_target(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("target"), str) and "weight" in entry


def check_weight(upstream: str, target: str, weight: int) -> None:
    if not 0 <= weight <= MAX_WEIGHT:
        raise GatewayError(f"{upstream}/{target}: Kong weights are 0..{MAX_WEIGHT}")


class KongGateway:
    """The clusters as targets of one upstream (``targets``: cluster -> ``host:port``).

    ``mode``: ``db`` sets each weight with its own ``PATCH``; ``dbless`` loads the node's
    configuration back with only the targets' weights changed, in one call (so every weight
    changes at once); ``None`` asks Kong at the first call (``GET /``) and keeps the answer,
    so a Kong that is down when tidewise starts costs a failed call, not the command.
    """

    def __init__(
        self,
        admin: KongAdmin,
        upstream: str,
        targets: Mapping[str, str],
        mode: Mode | None = None,
    ) -> None:
        self.admin = admin
        self.upstream = upstream
        self.targets = dict(targets)
        self.mode = mode

    def current_mode(self) -> Mode:
        if self.mode is None:
            self.mode = self.admin.mode()
        return self.mode

    def describe(self) -> str:
        how = {
            "db": "database mode: a PATCH of each target's weight",
            "dbless": "DB-less: the whole configuration through POST /config",
            None: "mode read from GET / at the first call",
        }[self.mode]
        return f"Kong at {self.admin.url}, upstream {self.upstream} ({how})"

    def read_weights(self) -> dict[str, int]:
        """Read from the targets endpoint, which both modes serve."""
        weights = {t["target"]: int(t["weight"]) for t in self.admin.targets(self.upstream)}
        return {c: weights.get(address, 0) for c, address in self.targets.items()}

    def apply(self, weights: Mapping[str, int]) -> None:
        if self.current_mode() == "dbless":
            self._load(weights)
            return
        present = {t["target"] for t in self.admin.targets(self.upstream)}
        for cluster in sorted(weights, key=lambda c: -weights[c]):  # as HAProxyGateway.apply
            address = self.targets[cluster]
            if address in present:
                self.admin.set_weight(self.upstream, address, weights[cluster])
            else:
                self.admin.add_target(self.upstream, address, weights[cluster])

    def _load(self, weights: Mapping[str, int]) -> None:
        for cluster, weight in weights.items():
            check_weight(self.upstream, self.targets[cluster], weight)
        document = self.admin.declarative()
        upstream = self._upstream_entry(document)
        wanted = {self.targets[c]: w for c, w in weights.items()}
        for target in self._targets_of(document, upstream):
            if target.get("target") in wanted:
                target["weight"] = wanted.pop(target["target"])
        for address, weight in wanted.items():  # clusters the file names, Kong has not yet
            new = {"target": address, "weight": weight}
            if isinstance(upstream.get("targets"), list):
                upstream["targets"].append(new)
            else:
                document.setdefault("targets", []).append({**new, "upstream": _ref(upstream)})
        self.admin.load(document)

    def _upstream_entry(self, document: dict[str, Any]) -> dict[str, Any]:
        for entry in document.get("upstreams") or []:
            if isinstance(entry, dict) and self.upstream in (entry.get("name"), entry.get("id")):
                return entry
        raise GatewayError(
            f"Kong GET /config: no upstream {self.upstream!r} in the loaded configuration; "
            "declare it (tidewise fleet deck writes one)"
        )

    def _targets_of(self, document: dict[str, Any], upstream: dict[str, Any]) -> list[dict]:
        """The upstream's targets: nested under it (a hand-written file) or, as ``GET
        /config`` exports them, in the top-level list pointing at it by id or name."""
        listed = upstream.get("targets")
        nested: list[Any] = listed if isinstance(listed, list) else []
        keys = {upstream.get("id"), upstream.get("name")} - {None}
        flat = [
            t
            for t in document.get("targets") or []
            if isinstance(t, dict) and _ref_key(t.get("upstream")) in keys
        ]
        return [t for t in [*nested, *flat] if isinstance(t, dict)]


def _ref(upstream: Mapping[str, Any]) -> Any:
    return upstream.get("id") or upstream.get("name")


def _ref_key(reference: object) -> object:
    """A foreign key as Kong writes it: an id, or ``{"id": ...}`` / ``{"name": ...}``."""
    if isinstance(reference, dict):
        return reference.get("id") or reference.get("name")
    return reference
