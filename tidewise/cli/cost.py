"""``tidewise cost``: what each team's pods cost on the cluster now, the nodes' prices split
over their pods by requests and the idle remainder apart (docs/cost.md)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from tidewise.cli.errors import fail, user_errors
from tidewise.cli.kube import ContextOption, KubeconfigOption, api_errors, kube_config
from tidewise.cli.output import Format, OutputOption, print_document, show

if TYPE_CHECKING:
    from tidewise.capacity.costshare import Cost, PlacedPod
    from tidewise.catalog import Catalog

app = typer.Typer(add_completion=False)

BY = "namespace, node, pod or label:KEY (e.g. label:team)"


def _grouping(by: str) -> Callable[[PlacedPod], str]:
    keys: dict[str, Callable[[PlacedPod], str]] = {
        "namespace": lambda p: p.namespace,
        "node": lambda p: p.node,
        "pod": lambda p: f"{p.namespace}/{p.name}",
    }
    if by in keys:
        return keys[by]
    if by.startswith("label:") and by.removeprefix("label:"):
        label = by.removeprefix("label:")

        def by_label(pod: PlacedPod) -> str:
            return pod.labels.get(label, f"<no {label}>")

        return by_label
    raise fail(f"--by: give {BY}, not {by!r}")


DEFAULT_CATALOG = "builtin:aws-us-east-1"
DEFAULT_PROVIDER = "aws"


def configured_catalog(catalog: str, provider: str) -> Catalog:
    """The catalog ``--catalog``/``--provider`` name; a bad one is one line naming the flag."""
    from pathlib import Path

    from tidewise.cli.compose import CatalogConfig, load_configured_catalog

    with user_errors(ValueError):
        spec = CatalogConfig.model_validate({"path": catalog, "provider": provider})
        return load_configured_catalog(spec, Path.cwd(), field="--catalog")


@app.command()
def cost(
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    by: Annotated[str, typer.Option(help=f"Sum by {BY}.")] = "namespace",
    hours: Annotated[
        float, typer.Option(min=0, help="Cost over this many hours at the current placement.")
    ] = 1.0,
    catalog: Annotated[
        str,
        typer.Option(
            envvar="TIDEWISE_CATALOG",
            help="Price catalog: builtin:NAME or a SkyPilot vms.csv path.",
        ),
    ] = DEFAULT_CATALOG,
    provider: Annotated[
        str,
        typer.Option(envvar="TIDEWISE_PROVIDER", help="The catalog's provider: aws or alicloud."),
    ] = DEFAULT_PROVIDER,
    output: OutputOption = Format.TABLE,
) -> None:
    """What each namespace, team or pod costs on the cluster, the idle remainder apart."""
    from lightkube import Client
    from lightkube.resources.core_v1 import Node, Pod

    from tidewise.capacity.costshare import IDLE, summed
    from tidewise.kube.cost import cluster_cost

    key = _grouping(by)
    prices = configured_catalog(catalog, provider)
    client = Client(kube_config(kubeconfig, context), field_manager="tidewise-cost")
    with api_errors():
        nodes = [n.to_dict() for n in client.list(Node)]
        listed = [p.to_dict() for p in client.list(Pod, namespace="*")]
    now = cluster_cost(nodes, listed, prices, time.time())
    groups = summed(now.allocation, now.pods, key)
    idle = groups.pop(IDLE)
    usage, billed = now.usage, now.billed
    document = {
        "by": by,
        "hours": hours,
        "groups": [
            {"name": name, **_usd(c, hours)}
            for name, c in sorted(groups.items(), key=lambda item: (-item[1].total, item[0]))
        ],
        "idle": _usd(idle, hours),
        "nodes_usd": now.nodes_usd_per_hour * hours,
        "nodes_priced": len(now.priced.nodes),
        "nodes_unpriced": now.nodes_unpriced,
        # pods on virtual nodes, billed per pod-second (in the groups above too)
        "serverless": {
            "pods": len(billed),
            "usd": now.serverless_usd_per_hour * hours,
            "pod_seconds": sum(usage.seconds[k] for k in billed),
            "usd_so_far": sum(c.total * usage.seconds[k] / 3600 for k, c in billed.items()),
        },
        "notes": now.notes,
    }
    if output.is_document:
        print_document(document, output)
        return
    _table(document)


def _table(document: dict) -> None:
    from rich.table import Table

    total = document["nodes_usd"] + document["serverless"]["usd"] or 1.0
    table = Table(title=f"cost over {document['hours']:g} h by {document['by']}", box=None)
    for column in ("name", "CPU", "memory", "GPU", "total", "share"):
        table.add_column(column, justify="left" if column == "name" else "right")
    rows = [*document["groups"], {"name": "(idle)", **document["idle"]}]
    for row in rows:
        table.add_row(
            row["name"],
            *(f"${row[k]:,.2f}" for k in ("cpu_usd", "memory_usd", "gpu_usd", "total_usd")),
            f"{100 * row['total_usd'] / total:.1f} %",
        )
    # what is paid: the machines, and the pods on virtual nodes (billed per pod-second)
    serverless = document["serverless"]
    paid = [("nodes", document["nodes_usd"])]
    if serverless["pods"]:
        paid.append((f"serverless ({serverless['pods']} pods)", serverless["usd"]))
    for label, usd in paid:
        table.add_row(label, "", "", "", f"${usd:,.2f}", f"{100 * usd / total:.1f} %")
    show(table)
    for line in document["notes"]:
        sys.stderr.write(f"note: {line}\n")


def _usd(cost: Cost, hours: float) -> dict[str, float]:
    return {
        "cpu_usd": cost.cpu * hours,
        "memory_usd": cost.memory * hours,
        "gpu_usd": cost.gpu * hours,
        "total_usd": cost.total * hours,
    }
