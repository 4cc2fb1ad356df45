"""``tidewise fleet`` refuses bad input in one line, before it touches a cluster (the
commands against real clusters are in tests/kube/fleet/test_sync_e2e.py)."""

import pytest
import yaml

from tests.cli.run import tidewise

pytestmark = pytest.mark.e2e

NOWHERE = {  # a kubeconfig for an API server that is not there (port 1 refuses connections)
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


@pytest.fixture
def nowhere(tmp_path):
    """A kubeconfig for an API server that is not there (port 1 refuses connections)."""
    path = tmp_path / "nowhere.kubeconfig"
    path.write_text(yaml.safe_dump(NOWHERE))
    return path


def plan(tmp_path, *args):
    return tidewise("fleet", "plan", "-n", "shop", *args, cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--selector", "app"), "--selector: write key=value (got 'app')"),
        (("--transform", "missing.yaml"), "--transform: missing.yaml does not exist"),
        (("--transform", "bad.yaml"), "replicas.Job/x: name a Deployment"),
        ((), "--source: the API server is unreachable"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(tmp_path, nowhere, args, message):
    (tmp_path / "bad.yaml").write_text("replicas: {Job/x: 1}\n")
    out = plan(tmp_path, "--source", str(nowhere), *args)
    assert out.returncode == 2
    assert message in " ".join(out.stderr.split())
    assert "Traceback" not in out.stderr


def test_a_missing_kubeconfig_is_named(tmp_path):
    out = plan(tmp_path, "--source", "nope.kubeconfig")
    assert out.returncode == 2 and "--source: nope.kubeconfig does not exist" in out.stderr


def test_sync_needs_a_folder_for_its_run_file(tmp_path, nowhere):
    out = tidewise(
        "fleet",
        "sync",
        "--source",
        str(nowhere),
        "--target",
        str(nowhere),
        "-n",
        "shop",
        "--run-file",
        "no/such/run.json",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "--run-file: folder no/such does not exist" in out.stderr
