"""deploy/operator/components/colocation: the webhook configuration sends only batch pods and
holds them while it is down, reaches the path the server serves; the Deployment patch, the
Service, the certificate, the PriorityClass and the operator's defaults agree; the
configuration turns it on and refuses what it cannot run with."""

from pathlib import Path

import pytest
import yaml

from tests.kube.manifests import BASE, component_file, pod_webhook
from tidewise.cli.compose import OperatorConfig, colocation_settings, enabled_controllers
from tidewise.kube.colocation.batch import QOS, BatchNames
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.kube.colocation.webhook import PATH

COMPONENT = BASE / "components/colocation"


def docs(name: str) -> dict[str, dict]:
    return component_file("colocation", name)


def test_the_webhook_sees_only_batch_pods_at_creation_and_holds_them_when_down():
    hook = pod_webhook("colocation", PATH)
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["objectSelector"] == {"matchLabels": {QOS: "batch"}}


def test_the_deployment_patch_serves_the_certificate_where_the_operator_reads_it():
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    flags, merged = kustomization["patches"]
    container = "/spec/template/spec/containers/0"
    ops = {op["path"].removeprefix(container): op["value"] for op in yaml.safe_load(flags["patch"])}
    assert ops["/command/-"] == "--colocation"
    service = docs("webhook.yaml")["Service"]
    defaults = OperatorConfig().colocation
    assert ops["/ports/-"] == {
        "name": service["spec"]["ports"][0]["targetPort"],
        "containerPort": defaults.webhook_port,
    }
    pod = yaml.safe_load(merged["patch"])["spec"]["template"]["spec"]
    (mount,) = pod["containers"][0]["volumeMounts"]
    assert Path(defaults.cert_file).parent == Path(mount["mountPath"])
    assert Path(defaults.key_file).parent == Path(mount["mountPath"])
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    certificate = docs("certificate.yaml")["Certificate"]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert f"{service['metadata']['name']}.tidewise-system.svc" in certificate["spec"]["dnsNames"]
    injected = docs("webhook.yaml")["MutatingWebhookConfiguration"]["metadata"]["annotations"]
    assert injected["cert-manager.io/inject-ca-from"] == (
        f"tidewise-system/{certificate['metadata']['name']}"
    )


def test_the_priority_class_is_the_default_one_below_every_online_pod():
    shipped = docs("priorityclass.yaml")["PriorityClass"]
    assert shipped["metadata"]["name"] == OperatorConfig().colocation.priority_class
    assert shipped["value"] < 0 and shipped["preemptionPolicy"] == "Never"
    assert shipped["globalDefault"] is False


def colocation(tmp_path: Path, **fields) -> OperatorConfig:
    files = {"cert_file": str(tmp_path / "tls.crt"), "key_file": str(tmp_path / "tls.key")}
    return OperatorConfig.model_validate({"colocation": {"enabled": True, **files, **fields}})


def test_the_configuration_turns_it_on_with_its_prometheus_names_and_margins(tmp_path):
    assert "colocation" not in enabled_controllers(OperatorConfig())
    assert colocation_settings(OperatorConfig()) is None
    (tmp_path / "tls.crt").write_text("")
    (tmp_path / "tls.key").write_text("")
    config = colocation(
        tmp_path,
        prometheus_url="http://prometheus.monitoring:9090",
        cpu_resource="kubernetes.io/batch-cpu",
        memory_resource="kubernetes.io/batch-memory",
        margin=0.3,
        evict_margin=0.05,
        cpu_query="sum by (namespace, pod) (my_cpu)",
    )
    assert "colocation" in enabled_controllers(config)
    settings = colocation_settings(config)
    assert isinstance(settings, ColocationSettings)
    assert settings.prometheus_url == "http://prometheus.monitoring:9090"
    assert settings.names == BatchNames("kubernetes.io/batch-cpu", "kubernetes.io/batch-memory")
    assert (settings.rule.margin, settings.rule.evict_margin) == (0.3, 0.05)
    assert settings.cpu_query == "sum by (namespace, pod) (my_cpu)"
    assert "container_memory_working_set_bytes" in settings.memory_query
    # the controllers' Prometheus stands in for its own
    shared = OperatorConfig.model_validate(
        {
            "controllers": {"prometheus_url": "http://p:9090"},
            "colocation": config.colocation.model_dump() | {"prometheus_url": None},
        }
    )
    assert colocation_settings(shared).prometheus_url == "http://p:9090"


@pytest.mark.parametrize(
    ("fields", "files", "message"),
    [
        ({}, True, r"colocation\.prometheus_url: where online usage is read; set it or "),
        (
            {"prometheus_url": "http://p:9090", "evict_margin": 0.5},
            True,
            r"colocation\.evict_margin: evict_margin must be between 0 and margin \(0\.25\)",
        ),
        (
            {"prometheus_url": "http://p:9090"},
            False,
            r"colocation\.cert_file: file .*tls\.crt does not exist; mount the webhook's",
        ),
    ],
)
def test_what_it_cannot_run_with_is_refused_by_field(tmp_path, fields, files, message):
    if files:
        (tmp_path / "tls.crt").write_text("")
        (tmp_path / "tls.key").write_text("")
    with pytest.raises(ValueError, match=message):
        colocation_settings(colocation(tmp_path, **fields))
