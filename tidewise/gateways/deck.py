"""The decK declarative file (``_format_version: "3.0"``) for the same upstream, for GitOps.

``deck gateway sync`` makes Kong match it: a service pointing at the upstream by name, one
target per cluster with its weight, and active plus passive health checks taken from the
failover settings so that Kong's own circuit breaker and ours agree on what ``fall`` and
``rise`` mean. ``sync`` deletes what the file does not name unless scoped by tag, so every
entity carries ``select_tags`` ``tidewise-fleet``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from tidewise.gateways.config import FleetTraffic

TAG = "tidewise-fleet"


def deck_document(config: FleetTraffic, weights: dict[str, int] | None = None) -> dict[str, Any]:
    """The file as data; ``weights`` (cluster -> weight) default to the configured ones."""
    weights = weights or config.desired()
    upstream = config.gateway.upstream or f"{config.service.name}-upstream"
    f = config.failover
    health_path = {urlsplit(c.health_url).path or "/" for c in config.clusters.values()}
    active: dict[str, Any] = {
        "type": config.service.protocol,
        "http_path": sorted(health_path)[0],
        "timeout": f.timeout_s,
        "healthy": {"interval": f.interval_s, "successes": f.rise},
        "unhealthy": {
            "interval": f.interval_s,
            "http_failures": f.fall,
            "tcp_failures": f.fall,
            "timeouts": f.fall,
        },
    }
    return {
        "_format_version": "3.0",
        "_info": {"select_tags": [TAG]},
        "services": [
            {
                "name": config.service.name,
                "host": upstream,
                "protocol": config.service.protocol,
                "routes": [{"name": config.service.name, "paths": list(config.service.paths)}],
            }
        ],
        "upstreams": [
            {
                "name": upstream,
                "healthchecks": {
                    "active": active,
                    "passive": {
                        "healthy": {"successes": f.rise},
                        "unhealthy": {
                            "http_failures": f.fall,
                            "tcp_failures": f.fall,
                            "timeouts": f.fall,
                        },
                    },
                    "threshold": 0,
                },
                "targets": [
                    {"target": c.address, "weight": weights.get(name, c.weight)}
                    for name, c in config.clusters.items()
                ],
            }
        ],
    }


def render_deck(config: FleetTraffic, weights: dict[str, int] | None = None) -> str:
    return yaml.safe_dump(deck_document(config, weights), sort_keys=False)
