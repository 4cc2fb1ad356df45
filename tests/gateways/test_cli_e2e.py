"""``tidewise fleet shift`` and ``watch`` against a real HAProxy in front of two clusters.

The figures (split per phase, failover and recovery times) are printed; run with ``-s`` to
see them (bench/RESULTS.md records one run).
"""

import json
import subprocess
import sys
import time
from itertools import pairwise

import pytest
import yaml

from tests.gateways.stand import BACKEND, FAILOVER, measure_split
from tidewise.fleet.failover import FailoverPolicy, failover_bound_s
from tidewise.gateways.config import load
from tidewise.gateways.haproxy import HAProxyRuntime

pytestmark = pytest.mark.e2e
REQUESTS = 1000


def command(*args: str) -> list[str]:
    """``tidewise ARGS`` as a process runs it: this interpreter, this checkout."""
    return [sys.executable, "-m", "tidewise.cli", *args]


def tidewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        timeout=120,
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def weights(stand) -> dict[str, int]:
    runtime = HAProxyRuntime(stand.haproxy.socket)
    return {c: runtime.get_weight(BACKEND, c)[0] for c in stand.clusters}


def test_shift_moves_traffic_in_steps_and_the_split_follows(stand):
    config = stand.write_config({"a": 100, "b": 0})
    measured = {"100/0": measure_split(stand.haproxy.port, REQUESTS)}
    for ratio, phase in ((30, "70/30"), (100, "0/100")):
        done = tidewise(
            "fleet",
            "shift",
            "--config",
            str(config),
            "--to",
            "b",
            "--ratio",
            str(ratio),
            "--step",
            "10",
            "--interval-s",
            "0.1",
        )
        assert done.returncode == 0, done.stderr
        steps = [e["weights"]["b"] for e in events(done.stdout) if e["event"] == "step"]
        assert steps == sorted(steps) and steps[-1] == ratio
        assert all(later - earlier <= 10 for earlier, later in pairwise(steps))
        assert weights(stand) == {"a": 100 - ratio, "b": ratio}
        measured[phase] = measure_split(stand.haproxy.port, REQUESTS)
    print(f"\nsplit over {REQUESTS} requests per phase: {json.dumps(measured)}")
    for phase, split in measured.items():
        a_share = int(phase.split("/")[0]) / 100
        assert split.get("a", 0.0) == pytest.approx(a_share, abs=0.03)
        assert split.get("b", 0.0) == pytest.approx(1 - a_share, abs=0.03)


def test_a_failed_health_check_rolls_the_shift_back(stand):
    config = stand.write_config({"a": 100, "b": 0})
    stand.clusters["b"].stop()
    done = tidewise(
        "fleet",
        "shift",
        "-c",
        str(config),
        "--to",
        "b",
        "--ratio",
        "30",
        "--interval-s",
        "0",
    )
    assert done.returncode == 2
    assert "rolled-back" in done.stderr and "health check failed for b" in done.stderr
    assert weights(stand) == {"a": 100, "b": 0}


def test_traffic_does_not_rise_before_the_sync_gates_are_green(stand):
    config = stand.write_config({"a": 100, "b": 0})
    document = yaml.safe_load(config.read_text())
    document["clusters"]["b"]["gates_green"] = False
    config.write_text(yaml.safe_dump(document))
    done = tidewise("fleet", "shift", "-c", str(config), "--to", "b", "--ratio", "30")
    assert done.returncode == 2 and "sync gates of b are not green" in done.stderr
    assert weights(stand) == {"a": 100, "b": 0}


def wait_for_weights(
    stand, check, deadline: float, every: float = 0.02
) -> list[tuple[float, dict]]:
    """Poll the gateway until ``check`` holds; returns every distinct (seconds, weights) seen."""
    start = time.monotonic()
    seen: list[tuple[float, dict]] = []
    while True:
        now = weights(stand)
        if not seen or seen[-1][1] != now:
            seen.append((time.monotonic() - start, now))
        if check(now):
            return seen
        assert time.monotonic() - start < deadline, f"gave up; weights seen: {seen}"
        time.sleep(every)


def test_watch_fails_over_within_the_bound_and_comes_back_gradually(stand, tmp_path):
    config = stand.write_config({"a": 50, "b": 50}, **FAILOVER)
    bound = load(config).bound_s()
    # 3 x 0.5 s + 0.25 s probe + two set-weight calls of at most 0.5 s each
    assert bound == pytest.approx(failover_bound_s(0.5, 3, 0.25, 2 * 0.5))
    policy = FailoverPolicy(FAILOVER["fall"], FAILOVER["rise"], FAILOVER["step"], 2)
    log = tmp_path / "watch.jsonl"
    with open(log, "w") as out:
        watch = subprocess.Popen(
            command("fleet", "watch", "-c", str(config), "--duration-s", "180"),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for_weights(stand, lambda w: w == {"a": 50, "b": 50}, deadline=60)
        stand.clusters["a"].stop()
        down = wait_for_weights(stand, lambda w: w["a"] == 0, deadline=30)
        failover_s = down[-1][0]
        after = measure_split(stand.haproxy.port, 200)
        stand.clusters["a"].start()
        up = wait_for_weights(stand, lambda w: w["a"] == 50, deadline=60)
        recovery_s = up[-1][0]
        watch.terminate()
        watch.wait(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    print(
        f"\nfailover {failover_s:.2f} s (bound {bound:.2f} s); recovery to full weight "
        f"{recovery_s:.2f} s through a={[w['a'] for _, w in up]} "
        f"(policy: {policy.recovery_ticks()} ticks of {FAILOVER['interval_s']} s)"
    )
    assert after == {"b": 1.0}
    # one interval of slack on top of the bound: the watch is a process on a shared machine
    assert failover_s <= bound + FAILOVER["interval_s"]
    climb = [w["a"] for _, w in up]
    assert climb == sorted(climb) and len(set(climb)) >= 4  # gradual: at least 3 steps up
    record = events(log.read_text())
    assert record[0]["event"] == "started" and record[0]["bound_s"] == pytest.approx(bound)
    series = [e["weights"]["a"] for e in record if e["event"] == "weights"]
    drops = [i for i in range(1, len(series)) if series[i] < series[i - 1]]
    assert len(drops) == 1, f"a's weight went down more than once: {series}"


def test_status_shows_the_model_as_the_gateway_and_the_probes_see_it(stand):
    config = stand.write_config({"a": 100, "b": 0})
    stand.clusters["b"].stop()
    done = tidewise("fleet", "status", "-c", str(config))
    assert done.returncode == 0, done.stderr
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in done.stdout.splitlines()]
    rows = {row[0]: row[2:] for row in cells if len(row) == 6}
    assert rows["a"] == ["100", "100%", "yes", "green"]
    assert rows["b"] == ["0", "0%", "NO", "green"]
    as_json = tidewise("fleet", "status", "-c", str(config), "-o", "json")
    clusters = {c["cluster"]: c for c in json.loads(as_json.stdout)["clusters"]}
    assert (clusters["a"]["weight"], clusters["a"]["share"], clusters["a"]["healthy"]) == (
        100,
        1.0,
        True,
    )
    assert clusters["b"]["healthy"] is False and clusters["b"]["gates_green"] is True
