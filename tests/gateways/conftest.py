from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.gateways.stand import BACKEND, ClusterServer, HAProxy


class Stand:
    """Clusters a and b, their HAProxy (a=100, b=0 to begin with) and a fleet traffic file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.clusters = {name: ClusterServer(name) for name in ("a", "b")}
        initial = {"a": 100, "b": 0}
        self.haproxy = HAProxy(
            folder, {n: (c.address, initial[n]) for n, c in self.clusters.items()}
        )

    def write_config(
        self, weights: dict[str, int], extra: dict[str, dict] | None = None, **failover: float
    ) -> Path:
        """The file for this stand; ``extra`` adds fields per cluster."""
        extra = extra or {}
        document = {
            "clusters": {
                n: {
                    "address": c.address,
                    "health_url": f"http://{c.address}/healthz",
                    "weight": weights[n],
                    **extra.get(n, {}),
                }
                for n, c in self.clusters.items()
            },
            "gateway": {
                "adapter": "haproxy",
                "socket": self.haproxy.socket,
                "backend": BACKEND,
                "timeout_s": 0.5,
            },
            "failover": failover,
        }
        path = self.folder / "fleet.yaml"
        path.write_text(yaml.safe_dump(document))
        return path


@pytest.fixture
def stand(tmp_path_factory) -> Iterator[Stand]:
    stand = Stand(tmp_path_factory.mktemp("haproxy"))
    for server in stand.clusters.values():
        server.start()
    try:
        stand.haproxy.start()
        yield stand
    finally:
        stand.haproxy.stop()
        for server in stand.clusters.values():
            server.stop()
