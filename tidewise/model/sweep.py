"""The result of a parameter sweep: every run, each setting's mean over the seeds, the Pareto
front of cost against violation minutes and the recommended setting (``tidewise sweep``,
docs/sweep.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tidewise.model.results import RunResult

Value = bool | int | float | str | None
"""One parameter's value: a YAML scalar, as the scenario field takes it."""


class SweepRun(BaseModel):
    """One replay: the scenario with ``setting`` applied, on ``seed``, under the policy."""

    model_config = ConfigDict(frozen=True)

    setting: dict[str, Value]
    seed: int
    run: RunResult


class SweepPoint(BaseModel):
    """One setting, its runs averaged over the seeds (the objectives the front is drawn on)."""

    model_config = ConfigDict(frozen=True)

    setting: dict[str, Value]
    seeds: int
    cost_usd: float
    violation_minutes: float
    served_fraction: float
    on_front: bool


class SweepReport(BaseModel):
    """A whole sweep. ``recommended`` indexes ``points``; ``rule`` says how it was chosen."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    policy: str
    search: str
    params: list[str]
    seeds: list[int]
    violation_budget_minutes: float
    runs: list[SweepRun]
    points: list[SweepPoint]
    recommended: int | None
    rule: str
