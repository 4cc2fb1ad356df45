"""``tidewise policies``: what a scenario's ``policies`` list may name."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(add_completion=False)


@app.command()
def policies() -> None:
    """List the policies a scenario can compare."""
    from tidewise.sim.services.policies import POLICIES

    for name, (summary, _) in POLICIES.items():
        sys.stdout.write(f"{name:<18} {summary}\n")
