"""The composition root: the one place where ``tidewise operator`` and ``tidewise provisioner
run`` turn configuration into objects.

Which engine buys the nodes (Karpenter, steered by tidewise's capacity policy, or the kwok
fallback), which price catalog and which controllers run are configuration, not code:
built-in defaults, then an optional YAML file (``--config``, docs/kubernetes.md), then the
flags given on the command line. A new provider of the fallback is one entry in
:data:`PROVIDERS`; the commands and the kube runtime do not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from tidewise.cli.queue import parse_queue
from tidewise.files import InputError, read_input
from tidewise.sim.services.scenario import describe

if TYPE_CHECKING:
    from lightkube import AsyncClient, KubeConfig

    from tidewise.capacity.karpenter import KarpenterPolicy
    from tidewise.catalog import Catalog
    from tidewise.kube.colocation.settings import ColocationSettings
    from tidewise.kube.controllers.serverless_burst import ServerlessBurstSettings
    from tidewise.kube.ondemand.server import WebhookSettings
    from tidewise.kube.operator import ControllerSettings, CostSettings, Operator
    from tidewise.kube.provider import NodeProvider, Provisioner
    from tidewise.kube.provider.metrics import ProvisionerMetrics
    from tidewise.model import Offering, PurchaseOption

BUILTIN = "builtin:"


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("a number of seconds > 0")
    return seconds


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"an http(s) URL, e.g. http://prometheus.monitoring:9090 (got {url})")
    return url


def _endpoint_names(endpoints: dict[str, str]) -> dict[str, str]:
    for name in endpoints:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise ValueError(f"endpoint name {name!r}: lower-case letters, digits and '-'")
    return endpoints


def parse_endpoints(texts: list[str] | None) -> dict[str, str]:
    """``--prometheus-endpoint NAME=URL`` (repeatable) as a mapping."""
    endpoints = {}
    for text in texts or ():
        name, sep, url = text.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"--prometheus-endpoint: write NAME=URL (got {text!r})")
        endpoints[name] = url
    return endpoints


def _queues(texts: list[str] | None) -> list[str] | None:
    for text in texts or ():
        parse_queue(text)  # its ValueError names the format to use
    return texts


PositiveSeconds = Annotated[float, AfterValidator(_positive)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodesConfig(Section):
    """Which engine buys the nodes, one and never two (docs/kubernetes.md): ``karpenter``
    (production: tidewise keeps Karpenter's NodePools and NodeOverlays current, Karpenter
    buys), ``kwok`` (the fallback: tidewise's own provisioner buys kwok nodes, for test
    clusters and demos without Karpenter), ``none`` (another autoscaler buys; tidewise runs
    its controllers only)."""

    engine: Literal["karpenter", "kwok", "none"] = "karpenter"


class KarpenterConfig(Section):
    """What the Karpenter controller renders (``nodes.engine: karpenter``): the capacity
    policy of a scenario (its catalog, node pools and workloads), as ``tidewise karpenter
    render --scenario`` prints it (docs/karpenter.md)."""

    scenario: str | None = None  # a scenario YAML relative to the config file; None: bundled
    node_class: str | None = None  # GROUP/KIND/NAME; None: the scenario's provider's default
    period_s: PositiveSeconds = 30.0


class ProviderConfig(Section):
    """Who makes the nodes of the fallback (``nodes.engine: kwok``, ``tidewise provisioner
    run``): ``kwok`` fakes them as kwok nodes (docs/kubernetes.md)."""

    kind: Literal["kwok"] = "kwok"
    boot_delay_s: Annotated[float, Field(ge=0)] = 5.0


class CatalogConfig(Section):
    """What may be bought and at what price: a catalog shipped with tidewise
    (``builtin:NAME``) or a SkyPilot-format ``vms.csv``, relative to the config file."""

    path: str = f"{BUILTIN}aws-us-east-1"
    provider: Literal["aws", "alicloud"] = "aws"
    region: str | None = None
    instance_types: list[str] | None = None  # None: every type of the catalog
    purchase_options: Annotated[list[Literal["on-demand", "spot"]], Field(min_length=1)] = [
        "on-demand",
        "spot",
    ]


class ProvisionerConfig(Section):
    """The fallback provisioner's timings (Cluster Autoscaler's flags of the same meaning)
    and the drains' deadline (Karpenter's terminationGracePeriod)."""

    period_s: PositiveSeconds = 10.0
    unneeded_s: Annotated[float, Field(ge=0)] = 600.0
    delay_after_add_s: Annotated[float, Field(ge=0)] = 600.0
    max_node_provision_s: PositiveSeconds = 900.0  # --max-node-provision-time
    max_not_ready_s: PositiveSeconds = 1200.0  # --scale-down-unready-time
    drain_timeout_s: PositiveSeconds = 600.0
    # what the machines may cost per hour before deploy/prometheus's TidewiseBudgetOverrun
    # fires (an alert only: the provisioner still buys what pending pods need)
    budget_usd_per_hour: Annotated[float | None, Field(gt=0)] = None


class ControllersConfig(Section):
    """Which controllers ``tidewise operator`` runs beside the provisioner, and how often."""

    cronhpa: bool = True
    elasticscaler: bool = True
    resourcerecommendation: bool = True
    training_queue: bool = False  # admits every Job with Kueue's label: never beside Kueue
    defrag: bool = False  # evicts GPU-share pods for whole-GPU pods: off unless asked
    prometheus_url: HttpUrl | None = None  # objects that select none query this one
    # the others objects may select (spec.prometheus.endpoint: NAME); nothing else is asked
    prometheus_endpoints: Annotated[dict[str, HttpUrl], AfterValidator(_endpoint_names)] = {}
    cron_period_s: PositiveSeconds = 1.0
    elastic_period_s: PositiveSeconds = 15.0
    recommend_period_s: PositiveSeconds = 60.0
    queue_period_s: PositiveSeconds = 5.0
    defrag_period_s: PositiveSeconds = 5.0
    # pods pending past the bound go to a virtual node and back (docs/serverless-burst.md)
    serverless_burst: bool = False
    serverless_burst_all: bool = False  # every workload, not only the annotated ones
    serverless_burst_bound_s: Annotated[float, Field(ge=0)] = 30.0
    serverless_burst_overhead_s: Annotated[float, Field(ge=0)] = 180.0  # the twin's break-even
    serverless_burst_period_s: PositiveSeconds = 5.0
    # tidewise cost's figures as metrics on /metrics (docs/cost.md): reads only
    cost: bool = False
    cost_labels: list[str] = []  # pod label keys the pod series carry (team, app, ...)
    cost_period_s: PositiveSeconds = 60.0
    queues: Annotated[list[str] | None, AfterValidator(_queues)] = None  # NAME=MODEL:GPUS


class OnDemandBaseConfig(Section):
    """Each workload's on-demand base (docs/on-demand-base.md): the webhook's address and
    certificate files, the node label that says the capacity type and its values (Karpenter's
    by default; EKS managed node groups: ``eks.amazonaws.com/capacityType``, ``ON_DEMAND``,
    ``SPOT``), whether the replicas beyond the base must run on spot or only prefer it."""

    enabled: bool = False  # the webhook needs a certificate: off unless asked
    webhook_host: str = "0.0.0.0"
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 9443
    cert_file: str = "/etc/tidewise/webhook/tls.crt"
    key_file: str = "/etc/tidewise/webhook/tls.key"
    capacity_label: Annotated[str, Field(min_length=1)] = "karpenter.sh/capacity-type"
    on_demand_values: Annotated[list[str], Field(min_length=1)] = ["on-demand", "reserved"]
    spot_values: Annotated[list[str], Field(min_length=1)] = ["spot"]
    spot: Literal["required", "preferred"] = "required"
    period_s: PositiveSeconds = 5.0


class ColocationConfig(Section):
    """Online/offline co-location (docs/colocation.md): where online usage is read (the
    controllers' Prometheus when unset) and with which queries, the reclaim rule's margins and
    the peak's window, the batch resource names (Koordinator's: ``kubernetes.io/batch-cpu``,
    ``kubernetes.io/batch-memory``), the batch PriorityClass, the webhook's address and
    certificate, the controller's period."""

    enabled: bool = False  # the webhook needs a certificate: off unless asked
    prometheus_url: HttpUrl | None = None
    cpu_query: Annotated[str, Field(min_length=1)] | None = None
    memory_query: Annotated[str, Field(min_length=1)] | None = None
    margin: Annotated[float, Field(ge=0)] = 0.25
    evict_margin: Annotated[float, Field(ge=0)] = 0.1
    window_s: PositiveSeconds = 1800.0
    cpu_resource: Annotated[str, Field(pattern=r"^[a-z0-9.-]+/[a-z0-9.-]+$")] = (
        "tidewise.io/batch-cpu"
    )
    memory_resource: Annotated[str, Field(pattern=r"^[a-z0-9.-]+/[a-z0-9.-]+$")] = (
        "tidewise.io/batch-memory"
    )
    priority_class: Annotated[str, Field(min_length=1)] = "tidewise-batch"
    webhook_host: str = "0.0.0.0"
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 9444
    cert_file: str = "/etc/tidewise/batch-webhook/tls.crt"
    key_file: str = "/etc/tidewise/batch-webhook/tls.key"
    period_s: PositiveSeconds = 10.0


class OperatorConfig(Section):
    nodes: NodesConfig = NodesConfig()
    karpenter: KarpenterConfig = KarpenterConfig()
    provider: ProviderConfig = ProviderConfig()
    catalog: CatalogConfig = CatalogConfig()
    provisioner: ProvisionerConfig = ProvisionerConfig()
    controllers: ControllersConfig = ControllersConfig()
    on_demand_base: OnDemandBaseConfig = OnDemandBaseConfig()
    colocation: ColocationConfig = ColocationConfig()


@dataclass(frozen=True)
class Flag:
    """A command-line option that sets one configuration field."""

    field: tuple[str, str]
    convert: Callable[[Any], Any] = lambda value: value


# keyed by the commands' parameter names; the flags keep the meaning they had before --config
FLAGS: Mapping[str, Flag] = {
    "node_engine": Flag(("nodes", "engine")),
    "boot_delay": Flag(("provider", "boot_delay_s")),
    "instance_types": Flag(
        ("catalog", "instance_types"), lambda text: text.split(",") if text else None
    ),
    "period": Flag(("provisioner", "period_s")),
    "unneeded": Flag(("provisioner", "unneeded_s")),
    "delay_after_add": Flag(("provisioner", "delay_after_add_s")),
    "prometheus_url": Flag(("controllers", "prometheus_url")),
    "prometheus_endpoint": Flag(("controllers", "prometheus_endpoints"), parse_endpoints),
    "cron_period": Flag(("controllers", "cron_period_s")),
    "elastic_period": Flag(("controllers", "elastic_period_s")),
    "recommend_period": Flag(("controllers", "recommend_period_s")),
    "training_queue": Flag(("controllers", "training_queue")),
    "queue_period": Flag(("controllers", "queue_period_s")),
    "queue": Flag(("controllers", "queues")),
    "on_demand_base": Flag(("on_demand_base", "enabled")),
    "colocation": Flag(("colocation", "enabled")),
}


@dataclass(frozen=True)
class Configured:
    """The configuration in force, and the folder its relative paths are read from."""

    config: OperatorConfig
    base: Path


def load_config(path: Path | None, flags: Mapping[str, Any]) -> Configured:
    """Defaults, then the YAML file at ``path``, then ``flags`` (parameter name to value, the
    ones given on the command line only). ``ValueError`` names the file and field to fix, or
    the flag: a flag's value is held to the same rules as the file's field it sets (a
    negative ``--period`` is refused as ``provisioner.period_s: -1`` would be)."""
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(read_input(path)) or {}
        except InputError as error:
            raise ValueError(f"--config: file {error}") from None
        except yaml.YAMLError:
            raise ValueError(f"--config: {path} is not valid YAML") from None
        if not isinstance(raw, dict):
            raise ValueError(f"--config: {path}: expected a mapping of sections at the top level")
    try:
        config = OperatorConfig.model_validate(raw)
    except ValidationError as error:
        raise ValueError(f"--config: {path}: {describe(error, 'docs/kubernetes.md')}") from None
    if flags:
        data = config.model_dump()
        for name, value in flags.items():
            section, field = FLAGS[name].field
            data[section][field] = FLAGS[name].convert(value)
        try:
            config = OperatorConfig.model_validate(data)
        except ValidationError as error:
            raise ValueError(_flag_error(error, flags)) from None
    return Configured(config, path.parent if path is not None else Path.cwd())


def _flag_error(error: ValidationError, flags: Mapping[str, Any]) -> str:
    """The first error, named by the flag that set the field."""
    where = tuple(str(p) for p in error.errors()[0]["loc"][:2])
    flag = next((name for name in flags if FLAGS[name].field == where), None)
    if flag is None:
        return f"--config: {describe(error, 'docs/kubernetes.md')}"
    return f"--{flag.replace('_', '-')}: {describe(error).split(': ', 1)[1]}"


CONTROLLERS = (
    "karpenter",
    "provisioner",
    "cronhpa",
    "elasticscaler",
    "resourcerecommendation",
    "training-queue",
    "defrag",
    "on-demand-base",
    "serverless-burst",
    "cost",
    "colocation",
)
"""What ``tidewise operator`` may run; each has its RBAC in deploy/operator/components/<name>."""


def enabled_controllers(config: OperatorConfig) -> list[str]:
    """The controllers ``config`` runs, in :data:`CONTROLLERS` order: the components of
    deploy/operator to enable (tests/kube/test_operator_manifests.py keeps the shipped list
    equal to the defaults')."""
    spec = config.controllers
    switches = {
        "karpenter": config.nodes.engine == "karpenter",
        "provisioner": config.nodes.engine == "kwok",
        "cronhpa": spec.cronhpa,
        "elasticscaler": spec.elasticscaler,
        "resourcerecommendation": spec.resourcerecommendation,
        "training-queue": spec.training_queue,
        "defrag": spec.defrag,
        "on-demand-base": config.on_demand_base.enabled,
        "serverless-burst": spec.serverless_burst,
        "cost": spec.cost,
        "colocation": config.colocation.enabled,
    }
    return [name for name in CONTROLLERS if switches[name]]


def purchase_options(config: OperatorConfig) -> frozenset[PurchaseOption]:
    from tidewise.model import PurchaseOption

    return frozenset(PurchaseOption(o) for o in config.catalog.purchase_options)


def load_configured_catalog(
    spec: CatalogConfig, base: Path, field: str = "catalog.path"
) -> Catalog:
    """The catalog ``spec`` names, a path read relative to ``base`` (``ValueError`` names
    ``field``, the setting or flag that gave the path, and what to fix)."""
    from tidewise.catalog import BUILTIN_CATALOGS, builtin_catalog_path, load_catalog

    if spec.path.startswith(BUILTIN):
        name = spec.path.removeprefix(BUILTIN)
        if name not in BUILTIN_CATALOGS:
            known = ", ".join(BUILTIN + n for n in BUILTIN_CATALOGS)
            raise ValueError(f"{field}: unknown {spec.path!r}; known: {known}")
        path = builtin_catalog_path(name)
    else:
        path = base / spec.path
        if not path.is_file():
            raise ValueError(f"{field}: file {path} does not exist")
    try:
        return load_catalog(
            path, provider=spec.provider, region=spec.region, instance_types=spec.instance_types
        )
    except InputError as error:
        raise ValueError(f"{field}: {error}") from None
    except ValueError as error:
        if not spec.instance_types:
            raise
        raise ValueError(f"catalog.instance_types (--instance-types): {error}") from None


def catalog_offerings(configured: Configured) -> list[Offering]:
    """The offerings the provisioner may buy: the catalog's, of the configured purchase
    options (``ValueError`` names what to fix)."""
    catalog = load_configured_catalog(configured.config.catalog, configured.base)
    options = purchase_options(configured.config)
    return [o for o in catalog.offerings if o.option in options]


def _kwok(client: AsyncClient, offerings: list[Offering], spec: ProviderConfig) -> NodeProvider:
    from tidewise.kube.provider import KwokProvider

    return KwokProvider(client, offerings, boot_delay_s=spec.boot_delay_s)


PROVIDERS: Mapping[str, Callable[[AsyncClient, list[Offering], ProviderConfig], NodeProvider]] = {
    "kwok": _kwok
}


def provisioner_factory(
    configured: Configured,
) -> Callable[[AsyncClient, ProvisionerMetrics | None], Provisioner]:
    """What builds the kwok fallback's provisioner (``provisioner run``, and ``operator`` with
    ``nodes.engine: kwok``): the configured provider's nodes from the catalog's offerings,
    bought and given back by the twin's node autoscaler with its spot pool rules (spread,
    prices weighted by interruption band, as the twin's ``tidewise`` policy) and its
    interruption handler. The catalog is read now, so a bad one stops the command before it
    connects."""
    from tidewise.capacity import NodeAutoscaler, NodeAutoscalerSettings
    from tidewise.capacity.interruptions import InterruptionHandler
    from tidewise.capacity.spot_pools import SpotPoolRules
    from tidewise.kube.provider import Provisioner

    config = configured.config
    offerings = catalog_offerings(configured)
    options = purchase_options(config)
    timings = config.provisioner
    settings = NodeAutoscalerSettings(
        period_s=timings.period_s,
        unneeded_s=timings.unneeded_s,
        delay_after_add_s=timings.delay_after_add_s,
        max_node_provision_s=timings.max_node_provision_s,
        max_not_ready_s=timings.max_not_ready_s,
    )
    make_provider = PROVIDERS[config.provider.kind]

    def make(client: AsyncClient, metrics: ProvisionerMetrics | None = None) -> Provisioner:
        provider = make_provider(client, offerings, config.provider)
        policy = NodeAutoscaler(options, settings, spot_pools=SpotPoolRules())
        interruptions = InterruptionHandler(options, period_s=timings.period_s)
        if metrics is not None and timings.budget_usd_per_hour is not None:
            metrics.budget.set(timings.budget_usd_per_hour)
        return Provisioner(
            client,
            provider,
            policy,
            offerings,
            interruptions=interruptions,
            metrics=metrics,
            drain_timeout_s=timings.drain_timeout_s,
        )

    return make


def karpenter_policy(configured: Configured) -> KarpenterPolicy | None:
    """What the Karpenter controller keeps applied (``nodes.engine: karpenter``), from the
    configured scenario; ``None`` for another engine. Read now, so a bad scenario or node
    class stops the command before it connects (``ValueError`` names the field)."""
    config = configured.config
    if config.nodes.engine != "karpenter":
        return None
    from tidewise.capacity.karpenter import NodeClassRef
    from tidewise.cli.sim import default_scenario_path
    from tidewise.sim.services.karpenter import karpenter_policy as scenario_policy
    from tidewise.sim.services.scenario import load_scenario

    spec = config.karpenter
    path = configured.base / spec.scenario if spec.scenario else default_scenario_path()
    try:
        node_class = NodeClassRef.parse(spec.node_class) if spec.node_class else None
    except ValueError as error:
        raise ValueError(f"karpenter.node_class: {error}") from None
    try:
        scenario, base = load_scenario(path)
        return scenario_policy(scenario, base, node_class)
    except ValueError as error:
        text = str(error)
        if text.startswith("--node-class: "):
            raise ValueError(text.replace("--node-class", "karpenter.node_class", 1)) from None
        raise ValueError(f"karpenter.scenario: {text}") from None


def controller_settings(
    config: OperatorConfig,
    base: Path | None = None,
    karpenter: KarpenterPolicy | None = None,
) -> ControllerSettings:
    """The operator's controllers as ``config`` says (with serverless bursts or the cost
    exporter on, the catalog, relative to ``base``, default the working folder, gives their
    prices), and the Karpenter controller when given the ``karpenter`` policy it applies
    (:func:`karpenter_policy`)."""
    from tidewise.kube.operator import ControllerSettings

    spec = config.controllers
    queues = tuple(parse_queue(q) for q in spec.queues) if spec.queues else None
    return ControllerSettings(
        prometheus_url=spec.prometheus_url,
        prometheus_endpoints=dict(spec.prometheus_endpoints),
        cron_period_s=spec.cron_period_s,
        elastic_period_s=spec.elastic_period_s,
        recommend_period_s=spec.recommend_period_s,
        training_queue=spec.training_queue,
        queue_period_s=spec.queue_period_s,
        queues=queues,
        cronhpa=spec.cronhpa,
        elasticscaler=spec.elasticscaler,
        resourcerecommendation=spec.resourcerecommendation,
        defrag=spec.defrag,
        defrag_period_s=spec.defrag_period_s,
        on_demand_base=on_demand_base_settings(config.on_demand_base),
        serverless_burst=_serverless_burst(config, base or Path.cwd()),
        cost=_cost(config, base or Path.cwd()),
        karpenter=karpenter,
        karpenter_period_s=config.karpenter.period_s,
        colocation=colocation_settings(config),
    )


def on_demand_base_settings(spec: OnDemandBaseConfig) -> WebhookSettings | None:
    """The webhook's settings when it is enabled; ``ValueError`` (the field, the fix) for a
    certificate or key file that is not there, before anything connects."""
    from tidewise.kube.ondemand.server import WebhookSettings
    from tidewise.kube.ondemand.workloads import CapacityLabel

    if not spec.enabled:
        return None
    for field in ("cert_file", "key_file"):
        path = Path(getattr(spec, field))
        if not path.is_file():
            raise ValueError(
                f"on_demand_base.{field}: file {path} does not exist; mount the webhook's "
                "certificate Secret there or set the path (docs/on-demand-base.md)"
            )
    labels = CapacityLabel(
        spec.capacity_label,
        tuple(spec.on_demand_values),
        tuple(spec.spot_values),
        spot_required=spec.spot == "required",
    )
    return WebhookSettings(
        spec.webhook_host,
        spec.webhook_port,
        Path(spec.cert_file),
        Path(spec.key_file),
        labels,
        spec.period_s,
    )


def colocation_settings(config: OperatorConfig) -> ColocationSettings | None:
    """Co-location's settings when it is enabled; ``ValueError`` (the field, the fix) for no
    Prometheus, margins the rule refuses, or certificate files that are not there."""
    from tidewise.capacity.reclaim import ReclaimRule
    from tidewise.kube.colocation.batch import BatchNames
    from tidewise.kube.colocation.settings import ColocationSettings
    from tidewise.kube.colocation.usage import CPU_QUERY, MEMORY_QUERY

    spec = config.colocation
    if not spec.enabled:
        return None
    url = spec.prometheus_url or config.controllers.prometheus_url
    if url is None:
        raise ValueError(
            "colocation.prometheus_url: where online usage is read; set it or "
            "controllers.prometheus_url (--prometheus-url)"
        )
    try:
        rule = ReclaimRule(spec.margin, spec.evict_margin)
    except ValueError as error:
        raise ValueError(f"colocation.evict_margin: {error}") from None
    for field in ("cert_file", "key_file"):
        if not Path(getattr(spec, field)).is_file():
            raise ValueError(
                f"colocation.{field}: file {getattr(spec, field)} does not exist; mount the "
                "webhook's certificate Secret there or set the path (docs/colocation.md)"
            )
    return ColocationSettings(
        url,
        Path(spec.cert_file),
        Path(spec.key_file),
        host=spec.webhook_host,
        port=spec.webhook_port,
        names=BatchNames(spec.cpu_resource, spec.memory_resource),
        rule=rule,
        window_s=spec.window_s,
        cpu_query=spec.cpu_query or CPU_QUERY,
        memory_query=spec.memory_query or MEMORY_QUERY,
        priority_class=spec.priority_class,
        period_s=spec.period_s,
    )


def _cost(config: OperatorConfig, base: Path) -> CostSettings | None:
    from tidewise.kube.operator import CostSettings

    spec = config.controllers
    if not spec.cost:
        return None
    catalog = load_configured_catalog(config.catalog, base)
    return CostSettings(catalog, tuple(spec.cost_labels), spec.cost_period_s)


def _serverless_burst(config: OperatorConfig, base: Path) -> ServerlessBurstSettings | None:
    from tidewise.capacity.virtual_node import BurstRules
    from tidewise.kube.controllers.serverless_burst import ServerlessBurstSettings
    from tidewise.model import PurchaseOption

    spec = config.controllers
    if not spec.serverless_burst:
        return None
    catalog = load_configured_catalog(config.catalog, base)
    serverless = [o for o in catalog.offerings if o.option is PurchaseOption.SERVERLESS]
    if not serverless:
        raise ValueError("controllers.serverless_burst: the catalog has no serverless price")
    options = purchase_options(config)
    rules = BurstRules(
        spec.serverless_burst_bound_s, spec.serverless_burst_all, spec.serverless_burst_overhead_s
    )
    return ServerlessBurstSettings(
        rules,
        serverless[0],
        tuple(o for o in catalog.offerings if o.option in options),
        spec.serverless_burst_period_s,
    )


@dataclass(frozen=True)
class Lease:
    """Who may act: the Lease's namespace, this replica's identity, its duration."""

    namespace: str
    holder: str
    duration_s: int


def operator_factory(
    make: Callable[[AsyncClient, ProvisionerMetrics | None], Provisioner] | None,
    kube: KubeConfig,
    lease: Lease,
    period_s: float,
) -> Callable[[], Operator]:
    """What kopf's startup handler calls to build the operator: one client, the Lease
    elector (client-go's renew deadline and retry period in proportion to the duration), the
    provisioner ``make`` builds at each term (none without ``make``), rounds every
    ``period_s``."""
    from lightkube import AsyncClient

    from tidewise.kube.api.lease import LeaseElector
    from tidewise.kube.operator import Operator

    def build() -> Operator:
        client = AsyncClient(kube, field_manager="tidewise-operator")
        elector = LeaseElector(client, lease.namespace, lease.holder, duration_s=lease.duration_s)
        if make is None:  # nodes.engine: karpenter or none
            return Operator(None, elector, period_s)
        return Operator(lambda metrics: make(client, metrics), elector, period_s)

    return build
