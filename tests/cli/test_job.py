"""``tidewise job`` end to end on the twin, as a user runs it (against a real cluster:
tests/kube/test_queue_e2e.py)."""

import json

import pytest
import yaml

from tests.cli.run import tidewise

pytestmark = pytest.mark.e2e


def test_submit_list_get_delete_round_trip(tmp_path):
    def job(command, *args):
        return tidewise("job", command, "--state", "state.json", *args, cwd=tmp_path)

    # the simulated cluster: two 8-GPU nodes, one queue with 16 GPUs
    assert (
        job("submit", "a", "--gpus", "8", "--image", "img", "--", "python", "a.py").returncode == 0
    )
    assert job("submit", "b", "--gpus", "8", "--image", "img").returncode == 0
    out = job("submit", "c", "--gpus", "4", "--workers", "2", "--image", "img")
    assert out.returncode == 0, out.stderr
    assert "QUEUING position 1: quota:" in out.stdout

    listed = json.loads(job("list", "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in listed] == [
        ("a", "RUNNING"),
        ("b", "RUNNING"),
        ("c", "QUEUING"),
    ]
    assert listed[0]["command"] == ["python", "a.py"]
    got = yaml.safe_load(job("get", "c", "-o", "yaml").stdout)
    assert got["position"] == 1
    assert got["reason"].startswith("quota: queue 'default' uses 16 GPUs of its 16 GPUs")

    deleted = job("delete", "a")
    assert deleted.returncode == 0 and "started: c" in deleted.stdout
    got = json.loads(job("get", "c", "-o", "json").stdout)
    assert got["status"] == "RUNNING" and got["nodes"] == ["sim-0"] and got["reason"] is None
    top = json.loads(job("top", "-o", "json").stdout)
    assert {n["node"]: n["allocated_gpus"] for n in top["nodes"]} == {"sim-0": 8, "sim-1": 8}

    assert job("delete", "a").returncode == 2
    missing = job("get", "nope")
    assert missing.returncode == 2 and "no job 'nope'" in missing.stderr
    assert not list(tmp_path.glob(".state.json.*.tmp"))  # no temporary file left behind
    assert (tmp_path / ".state.json.lock").is_file()  # the lock file stays, by design


def test_bad_flags_fail_with_the_flag_named(tmp_path):
    out = tidewise("job", "submit", "x", "--gpus", "1", cwd=tmp_path)
    assert out.returncode == 2 and "--image" in out.stderr
    out = tidewise("job", "list", "--cluster", "prod", cwd=tmp_path)
    assert out.returncode == 2 and "--cluster" in out.stderr


def test_dry_run_prints_the_manifest_and_submits_nothing(tmp_path):
    out = tidewise(
        "job",
        "submit",
        "ddp",
        "--gpus",
        "8",
        "--workers",
        "2",
        "--image",
        "img",
        "--dry-run",
        "-o",
        "yaml",
        "--",
        "torchrun",
        "train.py",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    manifest = yaml.safe_load(out.stdout)
    assert manifest["kind"] == "PyTorchJob"
    assert not (tmp_path / ".tidewise").exists()


def test_the_simulated_cluster_size_is_set_at_first_use_and_kept(tmp_path):
    def job(command, *args):
        return tidewise("job", command, "--state", "state.json", *args, cwd=tmp_path)

    out = job("submit", "a", "--gpus", "8", "--image", "img", "--nodes", "3")
    assert out.returncode == 0, out.stderr
    top = json.loads(job("top", "-o", "json").stdout)
    assert len(top["nodes"]) == 3
    refused = job("submit", "b", "--gpus", "1", "--image", "img", "--nodes", "2")
    assert refused.returncode != 0
    assert "holds a cluster of 3 nodes" in refused.stderr


def test_dry_run_renders_into_the_namespace_given(tmp_path):
    args = ("job", "submit", "a", "--gpus", "1", "--image", "img", "--dry-run", "-o", "yaml")
    out = tidewise(*args, "--namespace", "team-a", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["metadata"]["namespace"] == "team-a"
    bad = tidewise(*args, "--namespace", "Team_A", cwd=tmp_path)
    assert bad.returncode != 0 and "not a DNS label" in bad.stderr


def test_names_the_api_server_would_refuse_are_refused_before_anything_is_written(tmp_path):
    out = tidewise("job", "submit", "BERT_1", "--gpus", "1", "--image", "i", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: NAME: 'BERT_1' is not a job name")
    assert not (tmp_path / ".tidewise").exists()


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--gpus", "8", "--workers", "13"], "--gpus/--workers/--cpu/--memory"),
        (["--gpus", "9"], "at most 8 on one node"),
        (["--gpus", "1", "--queue", "nope"], "--queue: queue 'nope' does not exist"),
        ([], "--gpus: 'j' could never start on this cluster (2 x p4d.24xlarge, 16 GPUs)"),
    ],
)
def test_jobs_that_could_never_start_are_refused_in_one_line(tmp_path, flags, names):
    out = tidewise("job", "submit", "j", *flags, "--image", "i", cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    assert names in out.stderr and len(out.stderr.strip().splitlines()) == 1
    listed = tidewise("job", "list", "-o", "json", cwd=tmp_path)
    assert json.loads(listed.stdout) == []  # nothing queued to wait forever


def test_logs_of_the_twin_s_jobs_are_refused_with_the_way_to_a_cluster(tmp_path):
    out = tidewise("job", "logs", "a", cwd=tmp_path)
    assert out.returncode == 2 and "--cluster: the twin runs no containers" in out.stderr
    out = tidewise("job", "logs", "a", "--tail", "-1", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: --tail:")


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: staging, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: x}}]
current-context: staging
"""


def test_the_environment_gives_the_common_options_and_a_context_is_checked(tmp_path):
    (tmp_path / "kc").write_text(KUBECONFIG)
    env = {"TIDEWISE_STATE": str(tmp_path / "team.json"), "TIDEWISE_CONTEXT": "prod"}
    out = tidewise("job", "submit", "a", "--gpus", "1", "--image", "i", cwd=tmp_path, env=env)
    assert out.returncode == 0 and (tmp_path / "team.json").is_file()
    out = tidewise("job", "list", "--cluster", "kube", "--kubeconfig", "kc", cwd=tmp_path, env=env)
    assert out.returncode == 2
    assert out.stderr == "error: --context: kc has no context 'prod' (contexts: staging)\n"
    out = tidewise(
        "job",
        "list",
        "--kubeconfig",
        "kc",
        "--context",
        "staging",
        cwd=tmp_path,
        env={**env, "TIDEWISE_CLUSTER": "kube"},
    )
    assert out.returncode == 2 and "the API server is unreachable" in out.stderr
