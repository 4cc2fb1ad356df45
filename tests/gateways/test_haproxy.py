"""The HAProxy adapter against a real HAProxy: runtime API calls, and the split they make."""

import pytest

from tests.gateways.stand import BACKEND, measure_split
from tidewise.gateways import GatewayError
from tidewise.gateways.haproxy import HAProxyGateway, HAProxyRuntime

pytestmark = pytest.mark.e2e
REQUESTS = 1000


def test_weights_round_trip_over_unix_and_tcp_sockets(stand):
    for address in (stand.haproxy.socket, stand.haproxy.tcp_socket):
        runtime = HAProxyRuntime(address)
        runtime.set_weight(BACKEND, "b", 42)
        assert runtime.get_weight(BACKEND, "b") == (42, 0)
        assert runtime.get_weight(BACKEND, "a") == (100, 100)
    gateway = HAProxyGateway(HAProxyRuntime(stand.haproxy.socket), BACKEND, {"a": "a", "b": "b"})
    gateway.apply({"a": 7, "b": 3})
    assert gateway.read_weights() == {"a": 7, "b": 3}
    stats = gateway.stats()
    assert {c: stats[c]["weight"] for c in "ab"} == {"a": "7", "b": "3"}
    assert stats["a"]["pxname"] == BACKEND and stats["a"]["svname"] == "a"


def test_haproxy_refusals_become_errors_that_say_why(stand):
    runtime = HAProxyRuntime(stand.haproxy.socket)
    with pytest.raises(GatewayError, match="nope"):
        runtime.set_weight(BACKEND, "nope", 10)
    with pytest.raises(GatewayError, match=r"0\.\.256"):
        runtime.set_weight(BACKEND, "a", 300)
    with pytest.raises(GatewayError, match="runtime API at"):
        HAProxyRuntime(str(stand.folder / "missing.sock")).command("show info")


def test_the_split_follows_the_weights(stand):
    gateway = HAProxyGateway(HAProxyRuntime(stand.haproxy.socket), BACKEND, {"a": "a", "b": "b"})
    for weights in ({"a": 100, "b": 0}, {"a": 70, "b": 30}, {"a": 0, "b": 100}):
        gateway.apply(weights)
        split = measure_split(stand.haproxy.port, REQUESTS)
        for cluster, weight in weights.items():
            assert split.get(cluster, 0.0) == pytest.approx(weight / 100, abs=0.03)
