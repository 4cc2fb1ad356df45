"""The Kong adapter's exact Admin API calls in both of Kong's modes, recorded by a stand-in
that answers as Kong documents (tests/gateways/kong.py)."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests.gateways.kong import SERVICE, TARGETS, UPSTREAM_ID, with_kong
from tests.gateways.test_cli_e2e import tidewise
from tidewise.cli import app
from tidewise.gateways import GatewayError
from tidewise.gateways.kong import KongAdmin, KongGateway


def test_apply_patches_existing_targets_and_creates_missing_ones():
    def scenario(url, kong):
        gateway = KongGateway(KongAdmin(url), "app", TARGETS)
        gateway.apply({"a": 70, "b": 30})
        assert kong.calls == [
            ("GET", "/", None),  # which mode: asked once
            ("GET", "/upstreams/app/targets", None),
            ("PATCH", "/upstreams/app/targets/ingress.cluster-a.internal:443", {"weight": 70}),
            ("POST", "/upstreams/app/targets", {"target": TARGETS["b"], "weight": 30}),
        ]
        assert gateway.mode == "db" and "database mode" in gateway.describe()
        kong.calls.clear()
        gateway.apply({"a": 0, "b": 100})
        assert kong.calls == [
            ("GET", "/upstreams/app/targets", None),
            ("GET", "/upstreams/app/targets?offset=1", None),  # Kong's next page
            ("PATCH", "/upstreams/app/targets/ingress.cluster-b.internal:443", {"weight": 100}),
            ("PATCH", "/upstreams/app/targets/ingress.cluster-a.internal:443", {"weight": 0}),
        ]
        assert gateway.read_weights() == {"a": 0, "b": 100}
        assert KongAdmin(url).health("app") == {TARGETS["a"]: "HEALTHY", TARGETS["b"]: "HEALTHY"}
        assert kong.calls[-1] == ("GET", "/upstreams/app/health", None)

    with_kong(scenario)


def test_db_less_kong_gets_its_whole_configuration_back_with_the_weights_changed():
    def scenario(url, kong):
        gateway = KongGateway(KongAdmin(url), "app", TARGETS)
        gateway.apply({"a": 70, "b": 30})
        assert [(m, p) for m, p, _ in kong.calls] == [
            ("GET", "/"),
            ("GET", "/config"),
            ("POST", "/config?check_hash=1"),
        ]
        assert gateway.mode == "dbless" and "POST /config" in gateway.describe()
        loaded = kong.loads[-1]
        assert loaded["services"] == [SERVICE]  # the rest of the configuration as it was
        assert {t["target"]: (t["weight"], t["upstream"]) for t in loaded["targets"]} == {
            TARGETS["a"]: (70, UPSTREAM_ID),
            TARGETS["b"]: (30, UPSTREAM_ID),  # a target Kong lacked, added under the upstream
        }
        assert kong.targets["app"] == {TARGETS["a"]: 70, TARGETS["b"]: 30}
        assert gateway.read_weights() == {"a": 70, "b": 30}  # reads stay on /targets
        kong.calls.clear()
        gateway.apply({"a": 70, "b": 30})  # unchanged: Kong keeps what it has (304)
        assert len(kong.loads) == 1 and kong.calls[-1][0] == "POST"

    with_kong(scenario, mode="dbless")


def test_a_write_to_db_less_kong_s_admin_api_says_what_to_do():
    def scenario(url, kong):
        gateway = KongGateway(KongAdmin(url), "app", TARGETS, mode="db")
        with pytest.raises(GatewayError, match=r"HTTP 405 .*operation unsupported.*DB-less"):
            gateway.apply({"a": 50, "b": 50})
        assert kong.targets["app"] == {TARGETS["a"]: 100}

    with_kong(scenario, mode="dbless")


def test_the_database_mode_refuses_config_and_a_missing_upstream_is_named():
    def scenario(url, kong):
        with pytest.raises(GatewayError, match="only available when Kong is configured"):
            KongAdmin(url).declarative()

    with_kong(scenario, mode="db")

    def dbless(url, kong):
        gateway = KongGateway(KongAdmin(url), "shop", TARGETS, mode="dbless")
        with pytest.raises(GatewayError, match="no upstream 'shop' in the loaded configuration"):
            gateway.apply({"a": 1, "b": 1})

    with_kong(dbless, mode="dbless")


def test_kong_errors_name_the_call_and_its_answer():
    def scenario(url, kong):
        with pytest.raises(GatewayError, match=r"Kong GET /upstreams/nope/targets: HTTP 404"):
            KongGateway(KongAdmin(url), "nope", TARGETS).read_weights()
        with pytest.raises(GatewayError, match=r"0\.\.65535"):
            KongAdmin(url).set_weight("app", TARGETS["a"], 70000)

    with_kong(scenario)
    with pytest.raises(GatewayError, match=r"Kong Admin API at http://127\.0\.0\.1:9"):
        KongAdmin("http://127.0.0.1:9", timeout_s=2).targets("app")


def test_an_html_answer_is_a_gateway_error_not_a_crash():
    """Kong behind a proxy that answers an error page: before, json.loads raised out of the
    adapter and stopped `fleet watch`."""

    def scenario(url, kong):
        kong.html = 1
        with pytest.raises(GatewayError, match=r"not JSON \(text/html.*502 Bad Gateway"):
            KongAdmin(url).targets("app")
        assert KongAdmin(url).targets("app")[0]["target"] == TARGETS["a"]

    with_kong(scenario)


def fleet_file(tmp_path, url, **gateway):
    clusters = {c: {"address": a, "health_url": f"{url}/healthz"} for c, a in TARGETS.items()}
    config = tmp_path / "fleet.yaml"
    failover = {"interval_s": 0.2, "timeout_s": 0.1, "fall": 2, "rise": 2}
    document = {"clusters": clusters, "failover": failover}
    document["gateway"] = {"adapter": "kong", "admin_url": url, "upstream": "app", **gateway}
    config.write_text(yaml.safe_dump(document))
    return config


@pytest.mark.parametrize("mode", ["db", "dbless"])
def test_fleet_shift_through_kong_moves_weight_step_by_step(tmp_path, mode):
    def scenario(url, kong):
        kong.targets["app"] = {TARGETS["a"]: 100, TARGETS["b"]: 0}
        config = fleet_file(tmp_path, url)
        args = ["fleet", "shift", "-c", str(config), "--to", "b", "--ratio", "30"]
        result = CliRunner().invoke(app, [*args, "--interval-s", "0"])
        assert result.exit_code == 0, result.output
        a, b = TARGETS["a"], TARGETS["b"]
        if mode == "db":
            patches = [
                (path.rsplit("/", 1)[1], body["weight"])
                for m, path, body in kong.calls
                if m == "PATCH"
            ]
            assert patches == [(a, 90), (b, 10), (a, 80), (b, 20), (a, 70), (b, 30)]
        else:
            steps = [{t["target"]: t["weight"] for t in d["targets"]} for d in kong.loads]
            assert steps == [{a: 90, b: 10}, {a: 80, b: 20}, {a: 70, b: 30}]
            assert not [c for c in kong.calls if c[0] == "PATCH"]
        assert kong.targets["app"] == {a: 70, b: 30}
        status = CliRunner().invoke(app, ["fleet", "status", "-c", str(config)])
        assert status.exit_code == 0, status.output
        said = " ".join(status.output.split())
        assert ("DB-less" in said) == (mode == "dbless")
        assert ("database mode" in said) == (mode == "db")

    with_kong(scenario, mode=mode)


@pytest.mark.e2e
def test_watch_outlives_kong_answering_html_and_applies_once_it_answers(tmp_path):
    """`fleet watch` as a process: Kong's Admin API answers an HTML error page for its first
    calls; the watch reports them (kind gateway), keeps its tick and sets the weights once
    Kong answers JSON again."""

    def scenario(url, kong):
        kong.targets["app"] = {TARGETS["a"]: 100, TARGETS["b"]: 0}
        kong.html = 4
        config = fleet_file(tmp_path, url, kong_mode="dbless")
        done = tidewise("fleet", "watch", "-c", str(config), "--duration-s", "6")
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines()]
        errors = [e for e in events if e["event"] == "error"]
        assert errors and all(e["kind"] == "gateway" for e in errors)
        assert "not JSON (text/html" in errors[0]["error"]
        assert events[-1]["event"] == "stopped"
        assert kong.targets["app"] == {TARGETS["a"]: 100, TARGETS["b"]: 100}

    with_kong(scenario, mode="dbless")
