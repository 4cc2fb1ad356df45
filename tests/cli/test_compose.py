"""The composition root: defaults, a configuration file and flags become the objects the
operator runs (against a real cluster: tests/kube/test_operator_e2e.py)."""

import re
import shutil

import pytest
import yaml

from tidewise.capacity.karpenter import NodeClassRef
from tidewise.capacity.serverless import BREAK_EVEN_OVERHEAD_S
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.cli.compose import (
    catalog_offerings,
    controller_settings,
    enabled_controllers,
    karpenter_policy,
    load_config,
    provisioner_factory,
    purchase_options,
)
from tidewise.cli.sim import default_scenario_path
from tidewise.kube.operator import ControllerSettings
from tidewise.kube.provider import Provisioner
from tidewise.model import PurchaseOption


def config_file(tmp_path, document):
    path = tmp_path / "operator.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_no_file_and_no_flag_is_what_the_operator_always_ran():
    configured = load_config(None, {})
    config = configured.config
    assert config.provider.kind == "kwok" and config.provider.boot_delay_s == 5.0
    assert config.catalog.path == "builtin:aws-us-east-1" and config.catalog.provider == "aws"
    assert purchase_options(config) == {PurchaseOption.ON_DEMAND, PurchaseOption.SPOT}
    assert (config.provisioner.period_s, config.provisioner.unneeded_s) == (10.0, 600.0)
    assert controller_settings(config) == ControllerSettings()
    offerings = catalog_offerings(configured)
    assert {o.option for o in offerings} == {PurchaseOption.ON_DEMAND, PurchaseOption.SPOT}
    catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")
    assert len(offerings) == sum(o.option in purchase_options(config) for o in catalog.offerings)


def test_flags_given_override_the_file_which_overrides_the_defaults(tmp_path):
    path = config_file(
        tmp_path,
        {
            "provisioner": {"period_s": 3, "unneeded_s": 60},
            "catalog": {"instance_types": ["m6i.large", "m6i.xlarge"]},
            "controllers": {"elasticscaler": False, "training_queue": True},
        },
    )
    config = load_config(path, {"period": 7.0, "queue": ["team-a=NVIDIA-A100-SXM4-80GB:16"]}).config
    assert config.provisioner.period_s == 7.0 and config.provisioner.unneeded_s == 60
    assert config.catalog.instance_types == ["m6i.large", "m6i.xlarge"]
    settings = controller_settings(config)
    assert not settings.elasticscaler and settings.cronhpa and settings.training_queue
    assert settings.queues is not None and settings.queues[0].name == "team-a"


def test_instance_types_flag_keeps_its_comma_list():
    config = load_config(None, {"instance_types": "m6i.large,c6i.xlarge"}).config
    assert config.catalog.instance_types == ["m6i.large", "c6i.xlarge"]
    assert load_config(None, {"instance_types": ""}).config.catalog.instance_types is None


def test_the_catalog_and_its_purchase_options_restrict_what_may_be_bought(tmp_path):
    shutil.copy(builtin_catalog_path("aws-us-east-1"), tmp_path / "vms.csv")
    path = config_file(
        tmp_path,
        {
            "catalog": {
                "path": "vms.csv",  # relative to the configuration file
                "instance_types": ["m6i.large"],
                "purchase_options": ["on-demand"],
            }
        },
    )
    offerings = catalog_offerings(load_config(path, {}))
    assert offerings
    assert {(o.instance_type.name, o.option) for o in offerings} == {
        ("m6i.large", PurchaseOption.ON_DEMAND)
    }


def test_the_provisioner_is_built_from_the_configured_provider():
    make = provisioner_factory(load_config(None, {"instance_types": "m6i.large"}))
    provisioner = make(object())  # the client is used only when it runs
    assert isinstance(provisioner, Provisioner)
    # the twin's node autoscaler as the tidewise policy runs it: spot spread and band weights
    assert provisioner._policy.spot_pools == SpotPoolRules()


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"provider": {"kind": "gce"}}, "provider.kind: Input should be 'kwok' (got 'gce')"),
        ({"controllers": {"colour": "blue"}}, "controllers.colour: unknown field"),
        ({"controllers": {"cron_period_s": 0}}, "controllers.cron_period_s: expected a number"),
        ({"controllers": {"queues": ["team-a"]}}, "controllers.queues: 'team-a' is not NAME="),
        ({"catalog": {"purchase_options": ["reserved"]}}, "catalog.purchase_options[0]"),
        ("[1, 2]", "expected a mapping of sections"),
        ("a: [", "is not valid YAML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path, document, says):
    path = config_file(tmp_path, document)
    with pytest.raises(ValueError, match=r"^--config: ") as raised:
        load_config(path, {})
    assert str(path) in str(raised.value) and says in str(raised.value)


@pytest.mark.parametrize(
    ("catalog", "says"),
    [
        ({"path": "builtin:gcp"}, "catalog.path: unknown 'builtin:gcp'; known: builtin:aws"),
        ({"path": "prices.csv"}, "catalog.path: file"),
        ({"instance_types": ["m6i.huge"]}, "no usable rows"),
    ],
)
def test_a_catalog_that_cannot_be_read_names_what_to_fix(tmp_path, catalog, says):
    configured = load_config(config_file(tmp_path, {"catalog": catalog}), {})
    with pytest.raises(ValueError, match=re.escape(says)):
        catalog_offerings(configured)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"--config: file .*nope\.yaml does not exist"):
        load_config(tmp_path / "nope.yaml", {})


def test_a_flag_is_held_to_the_rules_of_the_field_it_sets(tmp_path):
    """Before, flags were copied into the configuration unchecked: --period -1 reached the
    provisioner's loop."""
    with pytest.raises(ValueError, match=r"^--period: .*> 0"):
        load_config(None, {"period": -1.0})
    with pytest.raises(ValueError, match=r"^--prometheus-url: expected an http\(s\) URL"):
        load_config(None, {"prometheus_url": "ftp://prometheus"})
    with pytest.raises(ValueError, match=r"^--prometheus-endpoint: write NAME=URL"):
        load_config(None, {"prometheus_endpoint": ["team-a"]})
    configured = load_config(None, {"prometheus_endpoint": ["team-a=http://prom-a:9090"]})
    assert configured.config.controllers.prometheus_endpoints == {"team-a": "http://prom-a:9090"}
    assert controller_settings(configured.config).prometheus_endpoints == {
        "team-a": "http://prom-a:9090"
    }


def test_endpoints_in_the_file_are_checked(tmp_path):
    path = tmp_path / "operator.yaml"
    path.write_text("controllers: {prometheus_endpoints: {Team_A: http://prom:9090}}\n")
    with pytest.raises(ValueError, match="endpoint name 'Team_A'"):
        load_config(path, {})


def test_serverless_bursts_take_their_prices_from_the_configured_catalog(tmp_path):
    path = config_file(
        tmp_path,
        {
            "catalog": {"instance_types": ["m6i.large"], "purchase_options": ["spot"]},
            "controllers": {"serverless_burst": True, "serverless_burst_bound_s": 12},
        },
    )
    configured = load_config(path, {})
    assert "serverless-burst" in enabled_controllers(configured.config)
    burst = controller_settings(configured.config, configured.base).serverless_burst
    assert burst is not None and burst.rules.bound_s == 12 and not burst.rules.everyone
    assert burst.rules.overhead_s == BREAK_EVEN_OVERHEAD_S  # the twin's break-even by default
    assert burst.serverless.option is PurchaseOption.SERVERLESS
    assert {(o.instance_type.name, o.option) for o in burst.vms} == {
        ("m6i.large", PurchaseOption.SPOT)
    }


def test_karpenter_is_the_default_node_engine_and_renders_the_bundled_scenario():
    """One production path: by default the operator steers Karpenter with the bundled
    scenario's policy (aws: EC2NodeClass default) and runs no provisioner of its own."""
    configured = load_config(None, {})
    assert configured.config.nodes.engine == "karpenter"
    policy = karpenter_policy(configured)
    assert policy is not None and {p.name for p in policy.pools} == {"general", "gpu"}
    assert policy.node_class.kind == "EC2NodeClass"
    settings = controller_settings(configured.config, karpenter=policy)
    assert settings.karpenter is policy and settings.karpenter_period_s == 30.0


@pytest.mark.parametrize("engine", ["kwok", "none"])
def test_another_engine_renders_nothing(engine):
    assert karpenter_policy(load_config(None, {"node_engine": engine})) is None


def test_the_karpenter_section_reads_its_scenario_relative_to_the_file(tmp_path):
    scenario = yaml.safe_load(default_scenario_path().read_text())
    scenario["node_pools"][0]["name"] = "web"
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(scenario))
    document = {
        "karpenter": {
            "scenario": "mine.yaml",
            "node_class": "karpenter.kwok.sh/KWOKNodeClass/default",
            "period_s": 2,
        }
    }
    configured = load_config(config_file(tmp_path, document), {})
    policy = karpenter_policy(configured)
    assert policy is not None and [p.name for p in policy.pools] == ["web", "gpu"]
    assert policy.node_class == NodeClassRef("karpenter.kwok.sh", "KWOKNodeClass", "default")
    assert controller_settings(configured.config, karpenter=policy).karpenter_period_s == 2


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"karpenter": {"scenario": "nope.yaml"}}, "karpenter.scenario: "),
        ({"karpenter": {"node_class": "EC2NodeClass"}}, "karpenter.node_class: node class "),
    ],
)
def test_a_bad_karpenter_section_names_the_field(tmp_path, document, says):
    configured = load_config(config_file(tmp_path, document), {})
    with pytest.raises(ValueError, match=f"^{re.escape(says)}"):
        karpenter_policy(configured)


def test_the_node_engine_flag_is_held_to_the_field(tmp_path):
    with pytest.raises(ValueError, match=r"^--node-engine: "):
        load_config(None, {"node_engine": "cluster-autoscaler"})
