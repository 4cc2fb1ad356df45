"""deploy/helm/tidewise: helm lints and renders it with the default values and with every
component on, its schema refuses a bad value naming it, and its versions and configuration
schema follow the package's."""

import json
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, SCHEMA, helm, render, values_file, written_schema
from tests.kube.manifests import ROOT
from tidewise.cli.compose import (
    CONTROLLERS,
    OperatorConfig,
    enabled_controllers,
    karpenter_policy,
    load_config,
)
from tidewise.testenv.helm import HelmBuild

EVERYTHING = {
    "operator": {
        "config": {
            "nodes": {"engine": "kwok"},
            "controllers": {
                "training_queue": True,
                "defrag": True,
                "serverless_burst": True,
                "cost": True,
            },
            "on_demand_base": {"enabled": True},
            "colocation": {"enabled": True},
        }
    },
    "devicePlugin": {"enabled": True},
    "monitoring": {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "dashboards": {"enabled": True},
    },
}
"""Every component and every optional part on (every controller but Karpenter's: the kwok
fallback and Karpenter never run together)."""


def by_name(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if (o["kind"], o["metadata"]["name"]) == (kind, name))


def test_every_controller_is_on_in_everything():
    config = OperatorConfig.model_validate(EVERYTHING["operator"]["config"])
    assert enabled_controllers(config) == [c for c in CONTROLLERS if c != "karpenter"]


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_helm_lint_passes_strict(helm_binary: HelmBuild, tmp_path: Path, values: dict):
    linted = helm(
        helm_binary, "lint", "--strict", str(CHART), "--values", str(values_file(tmp_path, values))
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout, linted.stdout


def test_the_defaults_render_the_operator_extender_and_crds(helm_binary: HelmBuild, tmp_path):
    objects = render(helm_binary, values_file(tmp_path, {}))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "tidewise-operator") in kinds
    assert ("Deployment", "tidewise-extender") in kinds
    assert ("ConfigMap", "tidewise-scheduler-config") in kinds
    crds = {name for kind, name in kinds if kind == "CustomResourceDefinition"}
    assert "elasticscalers.tidewise.io" in crds and len(crds) == 4
    assert not {kind for kind, _ in kinds} & {"DaemonSet", "PrometheusRule"}


def test_everything_renders_every_optional_part(helm_binary: HelmBuild, tmp_path):
    objects = render(helm_binary, values_file(tmp_path, EVERYTHING))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("DaemonSet", "tidewise-device-plugin") in kinds
    assert ("MutatingWebhookConfiguration", "tidewise-on-demand-base") in kinds
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboards = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"]
    ]
    assert sorted(name for d in dashboards for name in d["data"]) == sorted(
        p.name for p in (ROOT / "deploy/grafana").glob("*.json")
    )
    for dashboard in dashboards:
        for text in dashboard["data"].values():
            json.loads(text)


def test_the_operator_reads_the_values_configuration(helm_binary: HelmBuild, tmp_path):
    """operator.config reaches the operator as its --config file, unchanged."""
    objects = render(helm_binary, values_file(tmp_path, EVERYTHING))
    config = by_name(objects, "ConfigMap", "tidewise-operator")
    assert yaml.safe_load(config["data"]["operator.yaml"]) == EVERYTHING["operator"]["config"]
    deployment = by_name(objects, "Deployment", "tidewise-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    path = container["command"][container["command"].index("--config") + 1]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    assert volume["configMap"]["name"] == "tidewise-operator"
    assert Path(path).name in config["data"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"operator": {"config": {"nodes": {"engine": "gke"}}}}, "/operator/config/nodes/engine"),
        ({"operator": {"config": {"controlers": {}}}}, "controlers"),
        (
            {"operator": {"config": {"controllers": {"cost": "yes"}}}},
            "/operator/config/controllers/cost",
        ),
        ({"extender": {"replica": 3}}, "replica"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ],
    ids=["engine", "misspelt-section", "not-a-boolean", "misspelt-key", "pull-policy"],
)
def test_a_bad_value_fails_lint_and_install_naming_it(
    helm_binary: HelmBuild, tmp_path, values, named
):
    """``helm install`` checks the values before it renders or connects (a client-side dry
    run here, as the test needs no cluster)."""
    path = str(values_file(tmp_path, values))
    environment = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for command in (
        ["lint", str(CHART), "--values", path],
        ["install", "tidewise", str(CHART), "--dry-run=client", "--values", path],
    ):
        refused = helm(helm_binary, *command, check=False, env=environment)
        assert refused.returncode != 0, command
        assert named in refused.stdout + refused.stderr, refused.stdout + refused.stderr


def test_the_configuration_schema_is_the_operators():
    """values.schema.json's operator.config is OperatorConfig's schema: what the chart
    accepts, the operator accepts (`python -m tests.helm.chart` writes it again)."""
    assert json.loads(SCHEMA.read_text()) == written_schema()


def test_the_app_version_is_the_package_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version("tidewise")


def test_the_packaged_chart_renders_as_the_folder_does(helm_binary: HelmBuild, tmp_path):
    """``helm package`` follows files/'s links into deploy/, so the archive a user is given
    holds the bases' files and renders the same objects."""
    packaged = helm(helm_binary, "package", str(CHART), "--destination", str(tmp_path))
    archive = (
        tmp_path / f"tidewise-{yaml.safe_load((CHART / 'Chart.yaml').read_text())['version']}.tgz"
    )
    assert archive.is_file(), packaged.stdout
    values = values_file(tmp_path, EVERYTHING)
    from_folder = render(helm_binary, values)
    from_archive = render(helm_binary, values, chart=archive)
    assert from_archive == from_folder


def test_operator_files_sit_beside_the_configuration_that_names_them(
    helm_binary: HelmBuild, tmp_path
):
    """operator.files puts a scenario where karpenter.scenario (relative to the
    configuration's folder) finds it: the operator's own loader reads the mounted folder."""
    scenario = (ROOT / "examples/spot-storm.yaml").read_text()
    values = {
        "operator": {
            "config": {"karpenter": {"scenario": "storm.yaml"}},
            "files": {"storm.yaml": scenario},
        }
    }
    objects = render(helm_binary, values_file(tmp_path, values))
    config = by_name(objects, "ConfigMap", "tidewise-operator")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for name, text in config["data"].items():
        (mounted / name).write_text(text)
    assert (mounted / "storm.yaml").read_text() == scenario
    policy = karpenter_policy(load_config(mounted / "operator.yaml", {}))
    assert policy is not None


def test_a_file_may_not_replace_the_configuration(helm_binary: HelmBuild, tmp_path):
    values = {"operator": {"files": {"operator.yaml": "nodes: {engine: none}"}}}
    linted = helm(
        helm_binary, "lint", str(CHART), "--values", str(values_file(tmp_path, values)), check=False
    )
    assert linted.returncode != 0 and "/operator/files" in linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        (
            {
                "operator": {
                    "config": {"on_demand_base": {"enabled": True}},
                    "webhook": {"certManager": False},
                },
                "extender": {"enabled": False},
            },
            {
                ("MutatingWebhookConfiguration", "tidewise-on-demand-base"),
                ("Service", "tidewise-operator-webhook"),
            },
        ),
        ({"extender": {"tls": {"certManager": False}}}, {("Service", "tidewise-extender")}),
    ],
    ids=["webhook", "extender"],
)
def test_without_cert_manager_no_cert_manager_object_is_rendered(
    helm_binary: HelmBuild, tmp_path, values, kept
):
    objects = render(helm_binary, values_file(tmp_path, values))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert kept <= kinds
    assert not [o for o in objects if o["apiVersion"].startswith("cert-manager.io/")]


@pytest.mark.parametrize("keep", [True, False])
def test_crds_keep_asks_helm_to_leave_the_crds_alone(helm_binary: HelmBuild, tmp_path, keep):
    objects = render(helm_binary, values_file(tmp_path, {"crds": {"keep": keep}}))
    kept = {
        o["kind"]
        for o in objects
        if o["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
    }
    assert kept == ({"CustomResourceDefinition"} if keep else set())
