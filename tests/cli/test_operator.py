"""``tidewise operator`` and ``provisioner run``: their options and configuration file are
checked before anything connects (the operator against a real cluster is
tests/kube/test_operator_e2e.py)."""

import pytest

from tests.cli.run import tidewise

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("option", ["--cron-period", "--elastic-period"])
def test_operator_refuses_a_period_that_is_not_positive(tmp_path, option):
    out = tidewise("operator", option, "0", cwd=tmp_path)
    assert out.returncode != 0
    assert f"{option}: a number of seconds > 0" in out.stderr


def one_line(out) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    return " ".join(out.stderr.split())


@pytest.mark.parametrize("command", [("operator",), ("provisioner", "run")])
def test_a_bad_configuration_file_is_one_line_before_anything_connects(tmp_path, command):
    (tmp_path / "op.yaml").write_text("controllers:\n  colour: blue\n")
    out = tidewise(*command, "--config", "op.yaml", "--kubeconfig", "nowhere", cwd=tmp_path)
    assert "--config: op.yaml: controllers.colour: unknown field" in one_line(out)


def test_the_file_catalog_is_read_and_a_flag_overrides_it(tmp_path):
    (tmp_path / "op.yaml").write_text("catalog:\n  instance_types: [m6i.huge]\n")
    args = ("provisioner", "run", "--config", "op.yaml", "--kubeconfig", "nowhere")
    assert "no usable rows" in one_line(tidewise(*args, cwd=tmp_path))
    # the flag's types replace the file's; the kubeconfig is then what is missing
    out = tidewise(*args, "--instance-types", "m6i.large", cwd=tmp_path)
    assert "--kubeconfig: nowhere does not exist" in one_line(out)


def test_the_on_demand_base_without_its_certificate_is_one_line(tmp_path):
    (tmp_path / "op.yaml").write_text(f"on_demand_base:\n  cert_file: {tmp_path / 'tls.crt'}\n")
    out = tidewise("operator", "--on-demand-base", "--config", "op.yaml", cwd=tmp_path)
    line = one_line(out)
    assert f"on_demand_base.cert_file: file {tmp_path / 'tls.crt'} does not exist" in line
    (tmp_path / "op.yaml").write_text("on_demand_base:\n  spot: sometimes\n")
    out = tidewise("operator", "--config", "op.yaml", cwd=tmp_path)
    assert "on_demand_base.spot" in one_line(out)


def test_co_location_without_its_prometheus_or_certificate_is_one_line(tmp_path):
    out = tidewise("operator", "--colocation", "--node-engine", "none", cwd=tmp_path)
    assert "colocation.prometheus_url: where online usage is read" in one_line(out)
    (tmp_path / "op.yaml").write_text(f"colocation:\n  cert_file: {tmp_path / 'tls.crt'}\n")
    args = ("--colocation", "--config", "op.yaml", "--prometheus-url", "http://p:9090")
    out = tidewise("operator", *args, cwd=tmp_path)
    line = one_line(out)
    assert f"colocation.cert_file: file {tmp_path / 'tls.crt'} does not exist" in line
    (tmp_path / "op.yaml").write_text("colocation:\n  cpu_resource: batch cpu\n")
    out = tidewise("operator", "--config", "op.yaml", cwd=tmp_path)
    assert "colocation.cpu_resource" in one_line(out)


def test_a_bad_queue_is_one_line_even_without_a_cluster(tmp_path):
    out = tidewise("operator", "--queue", "team-a", cwd=tmp_path)
    assert "--queue: 'team-a' is not NAME=MODEL:GPUS" in one_line(out)


def test_an_unknown_node_engine_is_one_line(tmp_path):
    out = tidewise("operator", "--node-engine", "autoscaler", cwd=tmp_path)
    assert "--node-engine: Input should be 'karpenter', 'kwok' or 'none'" in one_line(out)
