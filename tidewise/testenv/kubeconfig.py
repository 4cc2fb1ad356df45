"""Kubeconfig files for the test cluster's clients, with the certificates embedded.

Why embedded: a kubeconfig that carries its own data can be copied or handed to kubectl,
lightkube or kopf without the pki folder beside it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

CONTEXT = "tidewise-testenv"


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, identity: str) -> None:
    """A kubeconfig for ``server`` that authenticates with ``pki/<identity>.crt``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": encoded(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": identity,
                "user": {
                    "client-certificate-data": encoded(pki / f"{identity}.crt"),
                    "client-key-data": encoded(pki / f"{identity}.key"),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": identity}}],
        "current-context": CONTEXT,
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
