"""The deploy/ example says what the code (and the test environment) says."""

from pathlib import Path

import yaml

from tidewise.kube.extender import extender_stanza
from tidewise.testenv.cluster import write_scheduler_config

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy/scheduler/kube-scheduler-config.yaml"


def test_the_deploy_example_is_the_stanza_the_code_renders():
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example["kind"] == "KubeSchedulerConfiguration"
    [entry] = example["extenders"]
    assert entry == extender_stanza(entry["urlPrefix"], entry["tlsConfig"])
    assert entry["urlPrefix"].startswith("https://") and entry["enableHTTPS"] is True
    assert set(entry["tlsConfig"]) == {"certFile", "keyFile", "caFile"}


def test_the_test_environment_names_its_own_kubeconfig(tmp_path):
    written = yaml.safe_load(
        write_scheduler_config(tmp_path, [extender_stanza("http://x")]).read_text()
    )
    assert written["clientConnection"]["kubeconfig"] == str(tmp_path / "kube-scheduler.kubeconfig")
    assert written["leaderElection"] == {"leaderElect": False}
    assert written["extenders"][0]["urlPrefix"] == "http://x"
