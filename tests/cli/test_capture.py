"""``tidewise capture``'s options are checked before any cluster or Prometheus is asked: one
line naming the option and the fix, exit 2 (the whole command runs in
tests/kube/test_capture_e2e.py)."""

import pytest

from tests.cli.run import tidewise

URL = ["--prometheus", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "30m"], "--window: whole minutes, at least 1h (got 30m)"),
        (["--window", "soon"], "--window: "),
        (["--step", "0s"], "--step: a duration > 0"),
        (["--query-for", "web"], "--query-for: give NAME=PROMQL (got 'web')"),
        (
            ["--query", 'sum(rate(x{ns="$ns"}[5m]))'],
            "--query: 'sum(rate(x{ns=\"$ns\"}[5m]))' uses $ns; the template knows",
        ),
        (["--catalog", "builtin:nowhere"], "--catalog: unknown 'builtin:nowhere'"),
        (["--context", "elsewhere", "--kubeconfig", "kubeconfig"], "--context: "),
    ],
)
def test_bad_options_are_one_line_before_any_request(tmp_path, args, message):
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
    )
    out = tidewise("capture", "captured.yaml", *URL, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "captured.yaml").exists()


def test_the_scenario_never_replaces_its_kubeconfig_or_a_folder(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    out = tidewise("capture", str(config), *URL, "--kubeconfig", str(config), cwd=tmp_path)
    assert out.returncode == 2 and "is this command's input" in out.stderr
    (tmp_path / "folder").mkdir()
    out = tidewise("capture", "folder", *URL, cwd=tmp_path)
    assert out.returncode == 2 and "SCENARIO: folder is a folder" in out.stderr
    (tmp_path / "s-traces").write_text("mine")
    out = tidewise("capture", "s.yaml", *URL, cwd=tmp_path)
    assert out.returncode == 2 and "s-traces is in the way" in out.stderr
    assert (tmp_path / "s-traces").read_text() == "mine"
