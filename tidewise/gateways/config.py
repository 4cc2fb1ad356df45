"""The fleet traffic file: clusters and their entry points, the gateway, failover settings.

One YAML file serves ``shift``, ``watch`` and ``deck`` so that the three never disagree about
which address is which cluster. docs/traffic.md shows a complete one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tidewise.files import InputError, read_input
from tidewise.fleet.failover import FailoverPolicy, failover_bound_s
from tidewise.fleet.run import record_problem, sync_finished
from tidewise.fleet.traffic import Target, TrafficModel
from tidewise.gateways import Gateway
from tidewise.gateways.haproxy import HAProxyGateway, HAProxyRuntime
from tidewise.gateways.kong import KongAdmin, KongGateway

DBLESS_CALLS = 3  # GET / (once), GET /config, POST /config


def http_url(value: str, example: str) -> str:
    """``value`` when it is an http(s) URL with a host, else a ``ValueError`` showing one."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, e.g. {example} (got {value})")
    return value


class ConfigError(ValueError):
    """The file is missing, not YAML, or a field is wrong; one line naming the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cluster(Strict):
    address: str  # host:port the gateway sends to
    health_url: str
    weight: int = Field(default=100, ge=0)
    server: str | None = None  # HAProxy server name (default: the cluster's name)
    capacity: float | None = Field(default=None, gt=0, le=1)  # share of all traffic it carries
    gates_green: bool = True  # set by hand; ``sync_run`` decides instead when given
    sync_run: Path | None = None  # the `tidewise fleet sync --run-file` into this cluster
    optional: dict[str, int] = {}  # namespace/deployment -> usual replicas, 0 when short
    kubeconfig: Path | None = None  # where to scale ``optional`` (none: only reported)

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"expected host:port, e.g. ingress.cluster-a.internal:443 (got {value})"
            )
        return value

    @field_validator("health_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, "http://10.0.0.1/healthz")


@dataclass(frozen=True)
class Gate:
    """A cluster's sync gates as read now; ``problem`` says why its run file could not be
    read (the gates are then not green: traffic never rises on what cannot be checked)."""

    green: bool
    problem: str | None = None


def read_gate(cluster: Cluster) -> Gate:
    if cluster.sync_run is None:
        return Gate(cluster.gates_green)
    path = cluster.sync_run.expanduser()
    if not path.exists():
        return Gate(False)  # the sync has not started: nothing is wrong, nothing is done
    try:
        text = read_input(path)
    except InputError as error:
        return Gate(False, f"sync_run: {error}")
    if sync_finished(text):
        return Gate(True)
    problem = record_problem(text)
    return Gate(False, problem and f"sync_run: {path}: {problem}")


class GatewaySettings(Strict):
    adapter: Literal["haproxy", "kong"] = "haproxy"
    socket: str | None = None  # HAProxy stats socket: unix path or host:port
    backend: str | None = None  # HAProxy backend whose servers are the clusters
    admin_url: str = "http://127.0.0.1:8001"  # Kong Admin API
    upstream: str | None = None  # Kong upstream whose targets are the clusters
    kong_mode: Literal["auto", "db", "dbless"] = "auto"  # auto: as Kong's GET / says
    timeout_s: float = Field(default=2.0, gt=0)

    @field_validator("socket")
    @classmethod
    def _socket(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = value.removeprefix("unix@").removeprefix("ipv4@")
        host, _, port = address.rpartition(":")
        if "/" not in address and not (host and port.isdigit()):
            raise ValueError(
                f"a unix socket path or host:port, e.g. /run/haproxy/admin.sock (got {value})"
            )
        return value

    @field_validator("admin_url")
    @classmethod
    def _admin_url(cls, value: str) -> str:
        return http_url(value, "http://127.0.0.1:8001")


class FailoverSettings(Strict):
    interval_s: float = Field(default=2.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    fall: int = Field(default=3, ge=1)
    rise: int = Field(default=3, ge=1)
    step: int = Field(default=25, ge=1, le=100)
    step_every: int = Field(default=2, ge=1)

    def policy(self) -> FailoverPolicy:
        return FailoverPolicy(self.fall, self.rise, self.step, self.step_every)


class Service(Strict):
    name: str = "app"
    paths: list[str] = ["/"]
    protocol: Literal["http", "https"] = "http"


class FleetTraffic(Strict):
    clusters: dict[str, Cluster] = Field(min_length=1)
    gateway: GatewaySettings = GatewaySettings()
    failover: FailoverSettings = FailoverSettings()
    service: Service = Service()

    def model(self, weights: Mapping[str, int], healthy: Mapping[str, bool]) -> TrafficModel:
        """What the gateway carries now (``weights``) with what the probes found."""
        gates = self.gates()
        return TrafficModel(
            tuple(
                Target(name, c.address, weights[name], healthy[name], gates[name])
                for name, c in self.clusters.items()
            )
        )

    def health_urls(self) -> dict[str, str]:
        return {name: c.health_url for name, c in self.clusters.items()}

    def gates(self) -> dict[str, bool]:
        """Each cluster's sync gates, read afresh: green once its sync's run file records
        every step done (or, without a run file, its ``gates_green``)."""
        return {name: gate.green for name, gate in self.read_gates().items()}

    def read_gates(self) -> dict[str, Gate]:
        """The gates with why a run file could not be read, for the watch to report."""
        return {name: read_gate(c) for name, c in self.clusters.items()}

    def desired(self) -> dict[str, int]:
        return {name: c.weight for name, c in self.clusters.items()}

    def bound_s(self) -> float:
        """The failover bound for this file: one apply is one gateway call per cluster
        (HAProxy ``set server``, Kong ``PATCH``) plus, for Kong, the target list before them
        (DB-less Kong: ``GET /config`` and ``POST /config``, and ``GET /`` once), each within
        the gateway timeout."""
        f, g = self.failover, self.gateway
        calls = {"haproxy": len(self.clusters), "kong": len(self.clusters) + 1}[g.adapter]
        if g.adapter == "kong" and g.kong_mode != "db":
            calls = max(calls if g.kong_mode == "auto" else 0, DBLESS_CALLS)
        return failover_bound_s(f.interval_s, f.fall, f.timeout_s, calls * self.gateway.timeout_s)

    def gateway_for(self) -> Gateway:
        g = self.gateway
        if g.adapter == "haproxy":
            if not g.socket or not g.backend:
                raise ConfigError(
                    "gateway: HAProxy needs socket and backend (--socket, --backend), e.g. "
                    "--socket /run/haproxy/admin.sock --backend clusters"
                )
            servers = {name: c.server or name for name, c in self.clusters.items()}
            return HAProxyGateway(HAProxyRuntime(g.socket, g.timeout_s), g.backend, servers)
        if not g.upstream:
            raise ConfigError("gateway: Kong needs upstream (--upstream), e.g. --upstream app")
        targets = {name: c.address for name, c in self.clusters.items()}
        mode = None if g.kong_mode == "auto" else g.kong_mode
        return KongGateway(KongAdmin(g.admin_url, g.timeout_s), g.upstream, targets, mode)


def load(path: Path, **gateway_overrides: object) -> FleetTraffic:
    """Read the file; options given on the command line replace the gateway's fields."""
    try:
        raw = yaml.safe_load(read_input(path))
    except InputError as err:
        raise ConfigError(f"--config: {err}; docs/traffic.md shows a traffic file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(
            f"--config: {path}:{f' line {mark.line + 1}' if mark else ''} is not YAML"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config: {path}: expected a mapping with clusters, gateway, failover")
    gateway = {**raw.get("gateway", {}), **{k: v for k, v in gateway_overrides.items() if v}}
    try:
        return FleetTraffic.model_validate({**raw, "gateway": gateway})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field; check the spelling (docs/traffic.md)"
        raise ConfigError(f"{path}: {where}: {message}") from None
