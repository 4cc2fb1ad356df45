"""``tidewise capture``: a scenario of a live cluster, ready for ``tidewise sim``: its
Deployments and StatefulSets with their requests and autoscalers, the node types it runs on,
and each service's history from its Prometheus, written as trace files beside the scenario
(docs/capture.md)."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from tidewise.cli.cost import DEFAULT_CATALOG, DEFAULT_PROVIDER, configured_catalog
from tidewise.cli.errors import fail, user_errors
from tidewise.cli.kube import (
    ContextOption,
    KubeconfigOption,
    api_errors,
    check_name,
    kube_config,
)
from tidewise.cli.output import check_output_folders, note
from tidewise.files import write_atomically

if TYPE_CHECKING:
    from tidewise.catalog import Catalog
    from tidewise.kube.capture.cluster import ObservedWorkload
    from tidewise.kube.capture.history import History, QueryTemplate

app = typer.Typer(add_completion=False)

POLICIES = ["fixed-on-demand", "reactive", "karpenter", "elastic", "tidewise"]
RECENT_S = 900.0  # the last quarter hour of a history tells what one replica serves now
NAME_MAX = 63


@app.command()
def capture(
    scenario: Annotated[
        Path, typer.Argument(help="The scenario to write; its traces go to NAME-traces/ beside it.")
    ],
    prometheus: Annotated[
        str,
        typer.Option(
            "--prometheus",
            envvar="TIDEWISE_PROMETHEUS_URL",
            help="The cluster's Prometheus, e.g. http://prometheus.monitoring:9090.",
        ),
    ],
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Default: the context's namespace."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")
    ] = False,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Label selector, as kubectl's (k=v, k!=v, k, !k)."),
    ] = None,
    window: Annotated[str, typer.Option(help="How much history: the scenario's horizon.")] = "7d",
    step: Annotated[str, typer.Option(help="The range query's step.")] = "60s",
    rate_window: Annotated[
        str, typer.Option(help="$rate_window in the query templates: rate()'s range.")
    ] = "5m",
    query: Annotated[
        str | None,
        typer.Option(help="One PromQL template of every service's request rate (docs/capture.md)."),
    ] = None,
    query_for: Annotated[
        list[str] | None,
        typer.Option(help="NAME=PROMQL: one service's request-rate template (repeatable)."),
    ] = None,
    catalog: Annotated[
        str,
        typer.Option(envvar="TIDEWISE_CATALOG", help="Price catalog: builtin:NAME or a vms.csv."),
    ] = DEFAULT_CATALOG,
    provider: Annotated[
        str,
        typer.Option(envvar="TIDEWISE_PROVIDER", help="The catalog's provider: aws or alicloud."),
    ] = DEFAULT_PROVIDER,
) -> None:
    """Write a scenario of a live cluster and its Prometheus history, for `tidewise sim`."""
    from lightkube import Client

    from tidewise.kube.capture.cluster import read_nodes, read_workloads
    from tidewise.kube.capture.history import DEFAULT_QUERIES
    from tidewise.model import parse_duration

    traces = scenario.with_name(f"{scenario.stem}-traces")
    with user_errors(ValueError):
        window_s = _duration("--window", window)
        step_s = _duration("--step", step)
        if window_s < 3600 or window_s % 60:
            raise ValueError(f"--window: whole minutes, at least 1h (got {window})")
        parse_duration(rate_window)
        check_output_folders({"SCENARIO": scenario}, inputs=[kubeconfig])
        if traces.exists() and not traces.is_dir():
            raise ValueError(f"SCENARIO: {traces} is in the way of its traces folder; move it")
        overrides = _overrides(query_for or [])
        prices = configured_catalog(catalog, provider)
    base = [_template("--query", query)] if query else list(DEFAULT_QUERIES)
    own = {name: [_template(f"--query-for {name}", q)] for name, q in overrides.items()}
    config = kube_config(kubeconfig, context)
    client = Client(config, field_manager="tidewise-capture")
    where = "*" if all_namespaces else (namespace or client.namespace)
    if namespace is not None:
        check_name("--namespace", namespace)
    with api_errors(), user_errors(ValueError):
        workloads, notes = read_workloads(client, where, selector)
        nodes = read_nodes(client)
    note(f"read {len(workloads)} Deployments and StatefulSets in {_namespaces(where)}")
    for line in notes:
        note(f"note: {line}")
    if not workloads:
        chosen = f" with -l {selector}" if selector else ""
        raise fail(f"--namespace: no Deployment or StatefulSet in {_namespaces(where)}{chosen}")
    unknown = sorted(set(overrides) - {w.name for w in workloads})
    if unknown:
        raise fail(f"--query-for: no captured service named {', '.join(unknown)}")
    end = math.floor(time.time() / step_s) * step_s
    start = end - window_s
    plans = [(w, own.get(w.name, base)) for w in workloads]
    histories = _histories(prometheus, plans, (start, end, step_s), rate_window)
    names = _scenario_names(workloads)
    traces.mkdir(exist_ok=True)
    documents = []
    for workload, history in zip(workloads, histories, strict=True):
        path = traces / f"{names[workload]}.csv"
        write_atomically(path, _trace_csv(history, start, step_s))
        trace = path.relative_to(scenario.parent)
        documents.append(_workload(workload, history, names[workload], trace, (start, step_s)))
    document, header = _scenario(
        scenario.stem, window_s, nodes, prices, documents, catalog, provider
    )
    _validated(document, scenario)
    write_atomically(scenario, header + yaml.safe_dump(document, sort_keys=False))
    note(
        f"wrote {scenario} ({len(documents)} services, {window} of history from "
        f"{_iso(start)}) and its traces in {traces}/; replay it: tidewise sim {scenario}"
    )


def _duration(option: str, text: str) -> float:
    from tidewise.model import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ValueError(f"{option}: {error} (got {text!r})") from None
    if seconds <= 0:
        raise ValueError(f"{option}: a duration > 0, such as '60s' or '7d' (got {text!r})")
    return seconds


def _overrides(pairs: list[str]) -> dict[str, str]:
    chosen = {}
    for pair in pairs:
        name, sep, promql = pair.partition("=")
        if not sep or not name or not promql:
            raise ValueError(f"--query-for: give NAME=PROMQL (got {pair!r})")
        chosen[name] = promql
    return chosen


def _template(option: str, promql: str) -> QueryTemplate:
    """A user's PromQL template, its ``$`` names checked before any query."""
    from string import Template

    from tidewise.kube.capture.history import QueryTemplate

    try:
        Template(promql).substitute(namespace="", name="", pods="", rate_window="")
    except (KeyError, ValueError) as error:
        used = f"${error.args[0]}" if isinstance(error, KeyError) else "a lone $"
        raise fail(
            f"{option}: {promql!r} uses {used}; the template knows $namespace, $name, "
            "$pods and $rate_window (write $$ for a dollar)"
        ) from None
    return QueryTemplate(option, promql)


def _namespaces(where: str) -> str:
    return "every namespace" if where == "*" else f"namespace {where}"


def _histories(
    url: str,
    plans: list[tuple[ObservedWorkload, list[QueryTemplate]]],
    window: tuple[float, float, float],
    rate_window: str,
) -> list[History]:
    """Each workload's history, in order, with a progress line each; the first workload with
    no series under any template, or an unreachable Prometheus, is the one error line."""
    import aiohttp

    from tidewise.kube.api.prometheus import PrometheusError
    from tidewise.kube.capture.history import history_of

    async def everything() -> list[History]:
        found = []
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for workload, templates in plans:
                key = (workload.namespace, workload.name, workload.kind)
                history = await history_of(session, url, templates, key, window, rate_window)
                if history is None:
                    tried = ", ".join(t.name for t in templates)
                    raise PrometheusError(
                        f"{workload.namespace}/{workload.name}: no series under any query "
                        f"({tried}); give its request rate with --query-for {workload.name}=PROMQL"
                    )
                seen = sum(1 for v in history.values if not math.isnan(v))
                note(
                    f"{workload.namespace}/{workload.name}: {seen} of {len(history.values)} "
                    f"samples of {history.signal} ({history.template})"
                )
                found.append(history)
        return found

    try:
        return asyncio.run(everything())
    except PrometheusError as error:
        raise fail(f"--prometheus: {error}") from None


def _scenario_names(workloads: list[ObservedWorkload]) -> dict[ObservedWorkload, str]:
    """Each workload's name in the scenario: its own, or NAMESPACE-NAME where two
    namespaces share one (a DNS label, as the scenario asks)."""
    counts: dict[str, int] = {}
    for w in workloads:
        counts[w.name] = counts.get(w.name, 0) + 1
    return {
        w: (w.name if counts[w.name] == 1 else f"{w.namespace}-{w.name}")[:NAME_MAX].rstrip("-")
        for w in workloads
    }


def _trace_csv(history: History, start: float, step_s: float) -> str:
    column = "cpu_cores" if history.signal == "cpu" else "requests_per_s"
    rows = [f"time,{column}"]
    for i, value in enumerate(history.values):
        rows.append(f"{_iso(start + i * step_s)},{'' if math.isnan(value) else f'{value:.6g}'}")
    return "\n".join(rows) + "\n"


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat()


def _workload(
    workload: ObservedWorkload,
    history: History,
    name: str,
    trace: Path,
    grid: tuple[float, float],
) -> dict[str, Any]:
    """The scenario's entry: with CPU as the signal, the demand is cores and one replica
    serves its CPU request; with a request rate, one replica serves what it serves now at
    the autoscaler's target (``replica_capacity``)."""
    from tidewise.scaling.captured import replica_capacity

    start, step_s = grid
    scaling, requests = workload.scaling, workload.requests
    if history.signal == "cpu":
        capacity = requests.cpu_milli / 1000
    else:
        last = history.values[-max(1, round(RECENT_S / step_s)) :]
        recent = [v for v in last if not math.isnan(v)]
        rate = sum(recent) / len(recent) if recent else math.nan
        try:
            capacity = replica_capacity(rate, workload.replicas, scaling.target_utilization)
        except ValueError as error:
            raise fail(f"{workload.namespace}/{workload.name}: {error}") from None
    entry: dict[str, Any] = {
        "name": name,
        "trace": {
            "path": trace.as_posix(),
            "start": _iso(start),
            "unit": "per_second",
            "on_gap": "previous",
        },
        "rps_per_replica": float(f"{capacity:.6g}"),
        "requests": _requests(requests),
        "replicas": {"min": scaling.min_replicas, "max": scaling.max_replicas},
        "target_utilization": scaling.target_utilization,
    }
    return entry


def _requests(resources: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"cpu": f"{resources.cpu_milli}m", "memory": f"{resources.memory_mib}Mi"}
    if resources.gpu_count:
        out["gpu"] = resources.gpu_count
    if resources.gpu_milli:
        out["gpu_milli"] = resources.gpu_milli
    if resources.gpu_memory_mib:
        out["gpu_memory"] = f"{resources.gpu_memory_mib}Mi"
    return out


def _scenario(
    name: str,
    window_s: float,
    nodes: list[dict[str, Any]],
    prices: Catalog,
    workloads: list[dict[str, Any]],
    catalog: str,
    provider: str,
) -> tuple[dict[str, Any], str]:
    """The scenario document and a comment header listing the nodes in use and their prices
    (kube.cost's pricing by labels)."""
    from tidewise.kube.api.labels import INSTANCE_TYPE, ZONE
    from tidewise.kube.cost import price_nodes

    priced = price_nodes(nodes, prices)
    labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
    types = sorted({labels[p.name][INSTANCE_TYPE] for p in priced.nodes})
    if not types:
        raise fail(
            f"--catalog: no node of the cluster has an instance type the {catalog} catalog "
            "knows (node.kubernetes.io/instance-type); give the catalog its nodes are priced in"
        )
    zones = sorted({labels[p.name].get(ZONE, "") for p in priced.nodes} & _zones(prices))
    header = [f"# captured by tidewise capture at {_iso(time.time())}", "# nodes in use:"]
    header += [
        f"#   {p.name}: {labels[p.name][INSTANCE_TYPE]} ${p.usd_per_hour:.4f}/h"
        for p in priced.nodes
    ]
    header += [f"#   {line}" for line in priced.notes]
    document: dict[str, Any] = {
        "name": name,
        "description": f"captured from a cluster: {len(workloads)} services",
        "horizon": f"{int(window_s // 60)}m",
        "catalog": {"path": catalog, "provider": provider, **({"zones": zones} if zones else {})},
        "node_pools": [{"name": "captured", "instance_types": types}],
        "workloads": workloads,
        "policies": POLICIES,
    }
    return document, "\n".join(header) + "\n"


def _zones(prices: Catalog) -> set[str]:
    return {o.zone for o in prices.offerings}


def _validated(document: dict[str, Any], path: Path) -> None:
    """The document as ``tidewise sim`` will read it: a bug here is caught before writing."""
    from pydantic import ValidationError

    from tidewise.sim.services.scenario import Scenario, describe

    try:
        Scenario.model_validate(document)
    except ValidationError as error:
        raise fail(f"{path}: the captured scenario is not valid: {describe(error)}") from None
