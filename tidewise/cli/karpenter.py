"""``tidewise karpenter``: the scenario's capacity policy as Karpenter objects
(docs/karpenter.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tidewise.cli.errors import user_errors

app = typer.Typer(
    help="Steer Karpenter with tidewise's capacity policy (docs/karpenter.md).",
    no_args_is_help=True,
    add_completion=False,
)
ScenarioOption = Annotated[
    Path | None,
    typer.Option(help="Scenario YAML (default: the bundled one-week NASA scenario)."),
]


@app.command("render")
def render(
    scenario: ScenarioOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml or json.")] = "yaml",
    node_class: Annotated[
        str | None,
        typer.Option(
            help="The provider's node class as GROUP/KIND/NAME (default for aws: "
            "karpenter.k8s.aws/EC2NodeClass/default; kwok: karpenter.kwok.sh/KWOKNodeClass/NAME)."
        ),
    ] = None,
) -> None:
    """Print the NodePools and NodeOverlays of the scenario's capacity policy."""
    import yaml

    from tidewise.capacity.karpenter import NodeClassRef
    from tidewise.capacity.karpenter import render as render_policy
    from tidewise.cli.sim import default_scenario_path
    from tidewise.sim.services.karpenter import karpenter_policy
    from tidewise.sim.services.scenario import ScenarioError, load_scenario

    with user_errors(ScenarioError, ValueError):
        if output not in ("yaml", "json"):
            raise ValueError(f"--output: give yaml or json, not {output!r}")
        parsed, base = load_scenario(scenario or default_scenario_path())
        ref = NodeClassRef.parse(node_class) if node_class else None
        objects = render_policy(karpenter_policy(parsed, base, ref))
    if output == "json":
        listed = {"apiVersion": "v1", "kind": "List", "items": objects}
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))


@app.command("instance-types")
def instance_types(scenario: ScenarioOption = None) -> None:
    """Print the scenario's node-pool types as the instance types file of Karpenter's kwok
    provider (INSTANCE_TYPES_FILE_PATH): the catalog's prices, zones and shapes."""
    from tidewise.capacity.karpenter import kwok_instance_types
    from tidewise.cli.sim import default_scenario_path
    from tidewise.sim.services.runner import capacity_inputs
    from tidewise.sim.services.scenario import ScenarioError, load_scenario

    with user_errors(ScenarioError):
        parsed, base = load_scenario(scenario or default_scenario_path())
        _, offerings, _ = capacity_inputs(parsed, base)
    sys.stdout.write(json.dumps(kwok_instance_types(offerings), indent=2) + "\n")
