"""Faults around a real HAProxy: a shift whose gateway fails half-way, its rollback, and a
failover that outlives a gateway that is down and run files that are not run records.

The gateway is reached through a relay (tests/gateways/flaky.py) that resets the connection
of chosen runtime API commands, the way a gateway dying mid-call does.
"""

import json
import subprocess
import time
import urllib.request
from collections import Counter

import pytest
import yaml

from tests.gateways.flaky import Relay
from tests.gateways.stand import BACKEND, FAILOVER, free_port
from tests.gateways.test_cli_e2e import command, events, tidewise, wait_for_weights, weights

pytestmark = pytest.mark.e2e


def relayed(stand, refuse, **failover):
    """The stand's traffic file with its gateway reached through a relay."""
    relay = Relay(stand.haproxy.tcp_socket, refuse)
    config = stand.write_config({"a": 100, "b": 0}, **failover)
    document = yaml.safe_load(config.read_text())
    document["gateway"]["socket"] = relay.address
    config.write_text(yaml.safe_dump(document))
    return relay, config


def test_a_rollback_the_gateway_half_refuses_is_retried_until_the_split_is_back(stand):
    """b fails its check after the first step (a:75/b:25); on the way back HAProxy takes
    a=100 but resets b=0 twice, leaving a:100/b:25 (before: exit 2 there, HAProxy left so).
    The rollback is read back and retried until HAProxy carries a:100/b:0."""
    attempts = Counter()

    def refuse(command):
        if command == f"set server {BACKEND}/b weight 0":
            attempts[command] += 1
            return attempts[command] <= 2
        return False

    relay, config = relayed(stand, refuse)
    stand.clusters["b"].stop()
    try:
        done = tidewise(
            "fleet", "shift", "-c", str(config), "--to", "b", "--ratio", "50", "--step", "25"
        )
    finally:
        relay.close()
    assert done.returncode == 2
    assert "shift rolled-back: health check failed for b at a=75 b=25" in done.stderr
    assert weights(stand) == {"a": 100, "b": 0}
    log = events(done.stdout)
    errors = [e for e in log if e["event"] == "error"]
    assert [(e["kind"], e["during"]) for e in errors] == [("gateway", "roll back to a=100 b=0")] * 2
    restored = next(e for e in log if e["event"] == "restored")
    assert restored["attempts"] == 3
    refused = [c for c, r in relay.seen if r]
    assert refused == [f"set server {BACKEND}/b weight 0"] * 2


def test_a_step_the_gateway_fails_half_way_is_rolled_back_to_the_last_good_split(stand):
    """The second step (a:50/b:50) goes out half: a=50 is taken, b=50 reset. The shift stops
    and puts back a:75/b:25, the last split that passed its check."""
    relay, config = relayed(stand, lambda command: command.endswith("/b weight 50"))
    try:
        done = tidewise(
            "fleet", "shift", "-c", str(config), "--to", "b", "--ratio", "100", "--step", "25"
        )
    finally:
        relay.close()
    assert done.returncode == 2
    assert "gateway failed at a=50 b=50" in done.stderr
    assert weights(stand) == {"a": 75, "b": 25}
    assert [e["event"] for e in events(done.stdout)][-2:] == ["restored", "rolled-back"]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("tidewise_fleet_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_failover_outlives_a_dead_gateway_and_run_files_that_are_not_records(stand, tmp_path):
    """The gateway resets every call for the first 2 s; b's sync run file holds `[]`, then
    `null`, then binary. The watch reports each (kind gateway, run-file), keeps its tick, sets
    the split once HAProxy answers, and still takes a out when a dies; /metrics says so."""
    down_until = time.monotonic() + 2.0
    relay, config = relayed(stand, lambda _: time.monotonic() < down_until, **FAILOVER)
    document = yaml.safe_load(config.read_text())
    run_file = tmp_path / "b-run.json"
    run_file.write_text("[]")
    document["clusters"]["a"]["weight"] = 50
    document["clusters"]["b"] |= {"weight": 50, "sync_run": str(run_file)}
    config.write_text(yaml.safe_dump(document))
    port = free_port()
    log = tmp_path / "watch.jsonl"
    watch_args = ("fleet", "watch", "-c", str(config))
    with open(log, "w") as out:
        watch = subprocess.Popen(
            command(*watch_args, "--duration-s", "120", "--metrics-port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_weights(stand, lambda w: w == {"a": 50, "b": 50}, deadline=60)
        run_file.write_text("null")
        time.sleep(1.0)
        run_file.write_bytes(b"\x00\xff\xfe not json")
        time.sleep(1.0)
        assert watch.poll() is None, log.read_text()
        stand.clusters["a"].stop()
        wait_for_weights(stand, lambda w: w["a"] == 0, deadline=30)
        time.sleep(2 * FAILOVER["interval_s"])
        samples = scrape(port)
        assert watch.poll() is None, log.read_text()
    finally:
        watch.terminate()
        watch.wait(timeout=30)
        relay.close()
    assert watch.returncode == 0
    record = events(log.read_text())
    errors = [e for e in record if e["event"] == "error"]
    kinds = Counter(e["kind"] for e in errors)
    assert kinds["gateway"] >= 1 and kinds["run-file"] == 3, errors
    said = [e["error"] for e in errors if e["kind"] == "run-file"]
    assert "JSON list" in said[0] and "JSON NoneType" in said[1] and "not UTF-8" in said[2]
    assert record[-1]["event"] == "stopped"
    assert samples['tidewise_fleet_weight{cluster="a"}'] == 0
    assert samples['tidewise_fleet_weight{cluster="b"}'] == 50
    assert samples["tidewise_fleet_failover_engaged"] == 1
    assert samples['tidewise_fleet_errors_total{kind="gateway"}'] >= 1
    assert samples['tidewise_fleet_errors_total{kind="run-file"}'] == 3
    assert samples["tidewise_fleet_apply_seconds_count"] >= 2
    assert json.loads(log.read_text().splitlines()[0])["gateway"].startswith("HAProxy runtime API")
