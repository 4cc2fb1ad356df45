"""The decK file: format 3.0 with Kong's documented service -> upstream -> targets shape."""

import subprocess
import sys

import yaml

from tidewise.gateways.config import FleetTraffic
from tidewise.gateways.deck import TAG, deck_document

CONFIG = {
    "clusters": {
        "a": {
            "address": "ingress.cluster-a.internal:443",
            "health_url": "https://a.example/healthz",
            "weight": 90,
        },
        "b": {
            "address": "ingress.cluster-b.internal:443",
            "health_url": "https://b.example/healthz",
            "weight": 10,
        },
    },
    "gateway": {"adapter": "kong", "upstream": "app-upstream"},
    "failover": {"interval_s": 5, "timeout_s": 1, "fall": 3, "rise": 2},
    "service": {"name": "app", "paths": ["/api"], "protocol": "https"},
}


def test_the_file_is_kongs_format_3():
    document = deck_document(FleetTraffic.model_validate(CONFIG))
    assert document["_format_version"] == "3.0"
    assert document["_info"] == {"select_tags": [TAG]}
    [service] = document["services"]
    assert service == {
        "name": "app",
        "host": "app-upstream",  # a service points at its upstream by name
        "protocol": "https",
        "routes": [{"name": "app", "paths": ["/api"]}],
    }
    [upstream] = document["upstreams"]
    assert upstream["name"] == "app-upstream"
    assert upstream["targets"] == [
        {"target": "ingress.cluster-a.internal:443", "weight": 90},
        {"target": "ingress.cluster-b.internal:443", "weight": 10},
    ]
    checks = upstream["healthchecks"]
    assert checks["active"] == {
        "type": "https",
        "http_path": "/healthz",
        "timeout": 1,
        "healthy": {"interval": 5, "successes": 2},
        "unhealthy": {"interval": 5, "http_failures": 3, "tcp_failures": 3, "timeouts": 3},
    }
    assert checks["passive"]["unhealthy"]["http_failures"] == 3
    assert checks["threshold"] == 0


def test_weights_given_override_the_configured_ones():
    document = deck_document(FleetTraffic.model_validate(CONFIG), {"a": 0, "b": 100})
    assert [t["weight"] for t in document["upstreams"][0]["targets"]] == [0, 100]


def test_the_command_writes_the_file(tmp_path):
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "kong.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tidewise.cli",
            "fleet",
            "deck",
            "-c",
            str(config),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("_format_version: '3.0'\n")
    assert yaml.safe_load(text) == deck_document(FleetTraffic.model_validate(CONFIG))
