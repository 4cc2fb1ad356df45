"""deploy/operator/components/on-demand-base: the webhook configuration sends only opted-in
pods and never blocks one, reaches the path the server serves, and the Deployment patch, the
Service, the certificate and the operator's defaults agree with each other."""

from pathlib import Path

import pytest
import yaml

from tests.kube.manifests import BASE, component_file, pod_webhook
from tidewise.cli.compose import OperatorConfig, enabled_controllers, on_demand_base_settings
from tidewise.kube.ondemand.server import PATH
from tidewise.kube.ondemand.workloads import OPT_IN, CapacityLabel

COMPONENT = BASE / "components/on-demand-base"


def docs(name: str) -> dict[str, dict]:
    return component_file("on-demand-base", name)


def test_the_webhook_sees_only_opted_in_pods_at_creation_and_admits_them_when_down():
    hook = pod_webhook("on-demand-base", PATH)
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "NoneOnDryRun"  # Events, never on a dry run
    assert hook["objectSelector"] == {"matchLabels": {OPT_IN: "true"}}


def test_the_deployment_patch_serves_the_certificate_where_the_operator_reads_it():
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    (patch,) = kustomization["patches"]
    container = "/spec/template/spec/containers/0"
    ops = {op["path"].removeprefix(container): op["value"] for op in yaml.safe_load(patch["patch"])}
    assert ops["/command/-"] == "--on-demand-base"
    service = docs("webhook.yaml")["Service"]
    assert ops["/ports/-"]["name"] == service["spec"]["ports"][0]["targetPort"]
    defaults = OperatorConfig().on_demand_base
    assert ops["/ports/-"]["containerPort"] == defaults.webhook_port
    (mount,) = ops["/volumeMounts"]
    assert Path(defaults.cert_file).parent == Path(mount["mountPath"])
    assert Path(defaults.key_file).parent == Path(mount["mountPath"])
    (volume,) = ops["/spec/template/spec/volumes"]
    certificate = docs("certificate.yaml")["Certificate"]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert f"{service['metadata']['name']}.tidewise-system.svc" in certificate["spec"]["dnsNames"]
    injected = docs("webhook.yaml")["MutatingWebhookConfiguration"]["metadata"]["annotations"]
    assert injected["cert-manager.io/inject-ca-from"] == (
        f"tidewise-system/{certificate['metadata']['name']}"
    )


def test_the_configuration_turns_it_on_and_names_another_autoscaler_s_label(tmp_path):
    assert "on-demand-base" not in enabled_controllers(OperatorConfig())
    assert on_demand_base_settings(OperatorConfig().on_demand_base) is None
    config = OperatorConfig.model_validate(
        {
            "on_demand_base": {
                "enabled": True,
                "cert_file": str(tmp_path / "tls.crt"),
                "key_file": str(tmp_path / "tls.key"),
                "capacity_label": "eks.amazonaws.com/capacityType",
                "on_demand_values": ["ON_DEMAND"],
                "spot_values": ["SPOT"],
                "spot": "preferred",
            }
        }
    )
    assert "on-demand-base" in enabled_controllers(config)
    with pytest.raises(ValueError, match=r"on_demand_base\.cert_file: file .* does not exist"):
        on_demand_base_settings(config.on_demand_base)
    (tmp_path / "tls.crt").write_text("")
    (tmp_path / "tls.key").write_text("")
    settings = on_demand_base_settings(config.on_demand_base)
    assert settings is not None and settings.port == 9443
    assert settings.labels == CapacityLabel(
        "eks.amazonaws.com/capacityType", ("ON_DEMAND",), ("SPOT",), spot_required=False
    )
