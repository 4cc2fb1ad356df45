"""Bad fleet traffic files and options: one line naming the field, exit 2."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from tidewise.cli import app
from tidewise.gateways.config import load

GOOD = {
    "clusters": {
        "a": {"address": "127.0.0.1:1", "health_url": "http://127.0.0.1:1/healthz"},
        "b": {"address": "127.0.0.1:2", "health_url": "http://127.0.0.1:2/healthz"},
    },
    "gateway": {"adapter": "haproxy", "socket": "/nonexistent/admin.sock", "backend": "clusters"},
}


def run(tmp_path, document, *args):
    config = tmp_path / "fleet.yaml"
    config.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return CliRunner().invoke(app, ["fleet", *args, "-c", str(config)])


def with_cluster(**fields):
    return {**GOOD, "clusters": {**GOOD["clusters"], "a": {**GOOD["clusters"]["a"], **fields}}}


@pytest.mark.parametrize(
    ("document", "args", "says"),
    [
        (with_cluster(address="cluster-a"), ("deck",), "clusters.a.address: expected host:port"),
        (
            with_cluster(health_url="a/healthz"),
            ("deck",),
            "clusters.a.health_url: expected an http",
        ),
        (with_cluster(weight=-1), ("deck",), "clusters.a.weight"),
        (with_cluster(wieght=1), ("deck",), "clusters.a.wieght: unknown field"),
        ({**GOOD, "clusters": {}}, ("deck",), "clusters:"),
        ("clusters: [", ("deck",), "is not YAML"),
        ({**GOOD, "failover": {"interval_s": 1, "timeout_s": 2}}, ("watch",), "failover.timeout_s"),
        (GOOD, ("shift", "--to", "c", "--ratio", "30"), "--to: unknown cluster 'c'"),
        (GOOD, ("shift", "--to", "b", "--ratio", "30"), "HAProxy runtime API at"),
        (
            {**GOOD, "gateway": {"adapter": "kong"}},
            ("shift", "--to", "b", "--ratio", "3"),
            "--upstream",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_field(tmp_path, document, args, says):
    result = run(tmp_path, document, *args)
    assert result.exit_code == 2
    assert says in result.output
    assert result.output.count("error:") == 1


def test_a_missing_file_says_so(tmp_path):
    result = CliRunner().invoke(app, ["fleet", "deck", "-c", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "--config:" in result.output


def test_a_missing_kubeconfig_is_named_before_the_watch_starts(tmp_path):
    document = {
        **with_cluster(kubeconfig=str(tmp_path / "none.yaml")),
        "failover": {"interval_s": 1, "timeout_s": 0.5},
    }
    result = run(tmp_path, document, "watch", "--duration-s", "0")
    assert result.exit_code == 2 and "clusters.a.kubeconfig" in result.output


def test_a_clusters_gates_follow_its_sync_run_file(tmp_path):
    run_file = tmp_path / "b.json"
    document = {**GOOD, "clusters": {**GOOD["clusters"]}}
    document["clusters"]["b"] = {**GOOD["clusters"]["b"], "sync_run": str(run_file)}
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump(document))
    settings = load(config)
    assert settings.gates() == {"a": True, "b": False}  # no run file yet
    steps = [{"status": "done"}, {"status": "running"}]
    run_file.write_text(json.dumps({"format": 1, "steps": steps}))
    assert settings.gates()["b"] is False
    run_file.write_text(json.dumps({"format": 1, "steps": [{"status": "done"}] * 2}))
    assert settings.gates()["b"] is True  # read afresh: the watch sees the sync finish


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[]", "not a run record (it holds a JSON list"),
        (b"null", "not a run record (it holds a JSON NoneType"),
        (b"\x00\xff binary", "not UTF-8 text"),
        (b'{"format": 1, "steps": [1]}', "its steps are not a list of steps"),
    ],
)
def test_a_run_file_that_is_not_a_record_keeps_the_gates_shut_and_says_why(tmp_path, content, says):
    """Before, `[]` or `null` raised AttributeError and binary UnicodeDecodeError out of
    the gates, and `fleet watch` stopped with them."""
    run_file = tmp_path / "b.json"
    run_file.write_bytes(content)
    document = {**GOOD, "clusters": {**GOOD["clusters"]}}
    document["clusters"]["b"] = {**GOOD["clusters"]["b"], "sync_run": str(run_file)}
    config = tmp_path / "fleet.yaml"
    config.write_text(yaml.safe_dump(document))
    gates = load(config).read_gates()
    assert gates["a"].green and gates["a"].problem is None
    assert not gates["b"].green and says in gates["b"].problem
    assert load(config).gates() == {"a": True, "b": False}


@pytest.mark.parametrize(
    ("gateway", "says"),
    [
        ({"socket": "admin-sock"}, "gateway.socket: a unix socket path or host:port"),
        (
            {"adapter": "kong", "admin_url": "kong:8001"},
            "gateway.admin_url: expected an http(s) URL",
        ),
        ({"adapter": "kong", "kong_mode": "cassandra"}, "gateway.kong_mode"),
    ],
)
def test_gateway_addresses_are_checked_when_the_file_is_read(tmp_path, gateway, says):
    result = run(tmp_path, {**GOOD, "gateway": {**GOOD["gateway"], **gateway}}, "deck")
    assert result.exit_code == 2 and says in result.output
