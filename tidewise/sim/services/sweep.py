"""Parameter sweeps of the twin: which settings of a scenario are worth running.

A parameter is a dotted path into the scenario (``workloads.web.target_utilization``; a list
item by its ``name``, its index or ``*`` for every item) and a SPEC of values: a range
``low:high:step`` (both ends included) or a list ``a,b,c`` (each a YAML scalar, so ``25%``
stays text and ``2`` a number). Every value is applied and the scenario validated (and its
catalog and traces checked) before any run, so a typo costs a line, not a week's replay.

A run is one setting on one seed under one policy; a setting's objectives are its runs'
means over the seeds: cost, and violation minutes (minutes some workload served less than its
demand). The front holds the settings no other beats on both; the recommended one is the
cheapest on the front whose violation minutes are at or under a budget: by default the
scenario as written (the baseline, run beside the sweep), so the advice is "as good a service,
for less".
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from tidewise.files import write_atomically
from tidewise.model.results import RunResult
from tidewise.model.sweep import SweepPoint, SweepReport, SweepRun, Value
from tidewise.sim.services.policies import policy_settings
from tidewise.sim.services.runner import (
    PolicySettings,
    Task,
    prepare,
    replay,
    replay_in_processes,
)
from tidewise.sim.services.scenario import Scenario, ScenarioError, describe

MAX_VALUES = 1000  # values of one range: a typo like 0:1:0.0001 must not start 10,000 runs
POLICY = "policy."  # a parameter of the policy's settings, not of the scenario
AS_WRITTEN: dict[str, Value] = {}
"""The baseline's setting: the scenario unchanged."""


@dataclass(frozen=True)
class Param:
    """One swept parameter: its path, the grid's values, and the range NSGA-II draws from
    (``step`` kept, so both searches try the same values)."""

    path: str
    values: tuple[Value, ...]
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def is_range(self) -> bool:
        return self.step is not None


def parse_param(text: str) -> Param:
    """``NAME=SPEC`` to a :class:`Param`; ``ValueError`` naming ``--param`` and the fix."""
    path, equals, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not equals or not path or not spec:
        raise ValueError(
            f"--param {text!r}: give NAME=SPEC, e.g. workloads.web.target_utilization=0.5:0.9:0.1"
            " or workloads.*.overload_risk=0.001,0.01"
        )
    if spec.count(":") == 2 and "," not in spec:
        return _range(path, spec)
    values = tuple(_scalar(path, part) for part in spec.split(","))
    if len(set(map(json.dumps, values))) != len(values):
        raise ValueError(f"--param {path}: a value is listed twice in {spec!r}")
    return Param(path, values)


def _range(path: str, spec: str) -> Param:
    parts = spec.split(":")
    try:
        low, high, step = (float(p) for p in parts)
    except ValueError:
        low = high = step = math.nan
    if not all(map(math.isfinite, (low, high, step))):
        raise ValueError(f"--param {path}: a range is LOW:HIGH:STEP of numbers (got {spec!r})")
    if step <= 0 or high < low:
        raise ValueError(f"--param {path}: give LOW <= HIGH and a STEP above 0 (got {spec!r})")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise ValueError(f"--param {path}: {count} values; at most {MAX_VALUES}, take a wider step")
    whole = all(p.lstrip("-").isdigit() for p in parts)
    values = tuple(
        int(low) + i * int(step) if whole else _tidy(low + i * step) for i in range(count)
    )
    return Param(path, values, low, high, step)


def _tidy(value: float) -> float:
    """A grid value without the binary noise of ``0.1 * 3`` (so it reads, and keys, as 0.3)."""
    return round(value, 10)


def _scalar(path: str, text: str) -> Value:
    """A YAML scalar, but text with a colon stays text (a time, which YAML 1.1 would read
    as a number in base 60)."""
    if ":" in text:
        return text.strip()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text.strip()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    raise ValueError(f"--param {path}: {text!r} is not a single value; separate values by commas")


def apply(data: dict[str, Any], setting: dict[str, Value]) -> Scenario:
    """The scenario of ``data`` (its fields as written) with each path of ``setting`` set,
    validated again; ``ScenarioError`` naming the parameter and what the scenario accepts.
    The paths are found on the validated model (so a field left at its default is there to
    set) and set in the fields as written (so ``2Gi`` still reads as 2 GiB)."""
    raw = copy.deepcopy(data)
    shape = Scenario.model_validate(data).model_dump(mode="json")
    for path, value in setting.items():
        if path.startswith(POLICY):
            continue  # the policy's, not the scenario's: policy_kwargs
        for holder, key in _targets(shape, raw, path.split("."), path):
            holder[key] = value
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        names = ", ".join(f"{p}={v}" for p, v in setting.items())
        raise ScenarioError(f"--param {names}: {describe(err)}") from None


def _targets(shape: Any, raw: Any, parts: list[str], path: str) -> Iterator[tuple[Any, Any]]:
    """The (container, key) pairs of ``raw`` that ``parts`` names, found on ``shape``."""
    head, rest = parts[0], parts[1:]
    if isinstance(shape, list):
        keys: list[Any] = _items(shape, head, path)
    elif isinstance(shape, dict) and head in shape:
        keys = [head]
    else:
        known = ", ".join(shape) if isinstance(shape, dict) else "none (it is a value)"
        raise ScenarioError(
            f"--param {path}: no field {head!r} there; known: {known} (see docs/scenarios.md)"
        )
    for key in keys:
        if not rest:
            yield raw, key
            continue
        if isinstance(raw, dict) and not isinstance(raw.get(key), dict | list):
            raw[key] = {}  # a section left at its defaults: written out now
        yield from _targets(shape[key], raw[key], rest, path)


def _items(shape: list[Any], head: str, path: str) -> list[int]:
    if head == "*":
        return list(range(len(shape)))
    if head.isdigit() and int(head) < len(shape):
        return [int(head)]
    named = [
        i for i, item in enumerate(shape) if isinstance(item, dict) and item.get("name") == head
    ]
    if not named:
        names = [str(item["name"]) for item in shape if isinstance(item, dict) and "name" in item]
        known = ", ".join(names) if names else f"0-{len(shape) - 1}"
        raise ScenarioError(f"--param {path}: no item {head!r}; give *, or one of {known}")
    return named[:1]


def policy_kwargs(policy: str, setting: dict[str, Value]) -> PolicySettings:
    """The ``policy.`` paths of ``setting`` as the policy builder's keyword arguments: a
    number or flag in place of its default (``policy.break_even_overhead_s``), or a field of
    a default that is a dataclass (``policy.vm_level.overload_risk``, ``policy.nodes.
    unneeded_s``); ``ScenarioError`` naming the parameter and what the policy has."""
    defaults = policy_settings(policy)
    kwargs: PolicySettings = {}
    for path, value in setting.items():
        if not path.startswith(POLICY):
            continue
        name, _, field = path.removeprefix(POLICY).partition(".")
        if name not in defaults:
            known = ", ".join(defaults) or "none"
            raise ScenarioError(
                f"--param {path}: the {policy} policy has no setting {name!r}; known: {known}"
            )
        current = kwargs.get(name, defaults[name])
        if not dataclasses.is_dataclass(current) or isinstance(current, type):
            if field:
                raise ScenarioError(f"--param {path}: {name} is a value, it has no fields")
            kwargs[name] = _typed(path, current, value)
            continue
        fields = [f.name for f in dataclasses.fields(current)]
        if field not in fields:
            known = ", ".join(f"{name}.{f}" for f in fields)
            raise ScenarioError(f"--param {path}: give a field of {name}: {known}")
        typed = _typed(path, getattr(current, field), value)
        try:
            kwargs[name] = dataclasses.replace(current, **{field: typed})
        except ValueError as err:
            raise ScenarioError(f"--param {path}={value}: {err}") from None
    return kwargs


def _typed(path: str, default: Any, value: Value) -> Value:
    """``value`` where ``default`` stood: a flag for a flag, else a number, 0 or more (a
    whole one for a count)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ScenarioError(f"--param {path}={value}: give true or false")
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ScenarioError(f"--param {path}={value}: give a number, 0 or more")
    if isinstance(default, int) and not isinstance(value, int):
        raise ScenarioError(f"--param {path}={value}: give a whole number")
    return value


def check_params(data: dict[str, Any], base: Path, policy: str, params: Sequence[Param]) -> None:
    """Every value of every parameter applied alone and validated, then each scenario it
    makes prepared (catalog, traces, cross-references): the errors a run would meet, met
    before the first, the cheap ones first."""
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise ScenarioError("--param: a parameter is given twice; give each path once")
    singles = [{p.path: value} for p in params for value in p.values]
    for setting in singles:
        apply(data, setting)
        policy_kwargs(policy, setting)
    scenario_paths = [s for s in singles if not next(iter(s)).startswith(POLICY)]
    for setting in scenario_paths or [AS_WRITTEN]:
        try:
            prepare(apply(data, setting), base)
        except ScenarioError as err:
            if not setting or str(err).startswith("--param"):
                raise
            ((path, value),) = setting.items()
            raise ScenarioError(f"--param {path}={value}: {err}") from None


def grid(params: Sequence[Param]) -> list[dict[str, Value]]:
    """Every combination of the parameters' values, the first parameter slowest."""
    return [
        dict(zip((p.path for p in params), combo, strict=True))
        for combo in itertools.product(*(p.values for p in params))
    ]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which points no other point beats: at most its cost and violations, less in one."""
    return [
        not any(o[0] <= p[0] and o[1] <= p[1] and (o[0] < p[0] or o[1] < p[1]) for o in points)
        for p in points
    ]


def recommend(points: Sequence[SweepPoint], budget: float) -> tuple[int | None, str]:
    """The cheapest setting on the front at or under ``budget`` violation minutes; where
    none is, the one with the fewest (cheapest among equals). With the rule, in words."""
    front = [i for i, p in enumerate(points) if p.on_front]
    if not front:
        return None, "no runs"
    within = [i for i in front if points[i].violation_minutes <= budget + 1e-9]
    if within:
        best = min(within, key=lambda i: (points[i].cost_usd, points[i].violation_minutes))
        return best, f"cheapest on the front within {budget:,.1f} violation minutes"
    best = min(front, key=lambda i: (points[i].violation_minutes, points[i].cost_usd))
    return best, f"none within {budget:,.1f} violation minutes: the fewest, then the cheapest"


def key_of(setting: dict[str, Value], seed: int) -> str:
    """A run's identity in the store: its setting (in parameter order) and its seed."""
    return json.dumps([setting, seed])


class Store:
    """A sweep's folder: ``sweep.json`` (the scenario and policy the runs belong to) and
    ``runs.jsonl``, one line per finished run, flushed to disk as it finishes; a re-run on
    the same folder reads them back and replays only what is missing."""

    def __init__(self, folder: Path | None, scenario: Scenario, policy: str) -> None:
        self.runs: dict[str, SweepRun] = {}
        self._file: Path | None = None
        if folder is None:
            return
        header = {"scenario": scenario.model_dump(mode="json"), "policy": policy}
        head = folder / "sweep.json"
        if head.is_file():
            try:
                same = json.loads(head.read_text()) == header
            except ValueError:
                same = False
            if not same:
                raise ScenarioError(
                    f"--out: {folder} holds a sweep of another scenario or policy; "
                    "give a new folder to start one"
                )
        else:
            folder.mkdir(exist_ok=True)
            write_atomically(head, json.dumps(header, indent=2) + "\n")
        self._file = folder / "runs.jsonl"
        if self._file.is_file():
            text = self._file.read_text()
            lines = text.splitlines()
            if text and not text.endswith("\n"):
                # a crash cut the last run's line: dropped (that run is replayed), so that
                # the next run is not appended onto it
                lines.pop()
                write_atomically(self._file, "".join(f"{line}\n" for line in lines))
            for number, line in enumerate(lines):
                try:
                    run = SweepRun.model_validate(json.loads(line))
                except (ValueError, ValidationError):
                    raise ScenarioError(
                        f"--out: {self._file} line {number + 1} is not a run; give a new folder"
                    ) from None
                self.runs[key_of(run.setting, run.seed)] = run

    def add(self, run: SweepRun) -> None:
        self.runs[key_of(run.setting, run.seed)] = run
        if self._file is None:
            return
        with self._file.open("a") as out:
            out.write(json.dumps(_stored(run)) + "\n")
            out.flush()
            os.fsync(out.fileno())


def _stored(run: SweepRun) -> dict[str, Any]:
    """A run as its line holds it: its wall time kept (the JSON output leaves it out, being
    no result but a measure of the machine), for the benchmark's figures."""
    document = run.model_dump(mode="json")
    document["run"]["wall_s"] = run.run.wall_s
    return document


class Executor(Protocol):
    """Runs tasks, telling ``done`` of each result (task index, result) as it finishes."""

    def map(self, tasks: Sequence[Task], done: Callable[[int, RunResult], None]) -> None: ...


@dataclass(frozen=True)
class LocalProcesses:
    """The runner's worker processes (in this process when ``workers`` is 1)."""

    workers: int

    def map(self, tasks: Sequence[Task], done: Callable[[int, RunResult], None]) -> None:
        if self.workers == 1 or len(tasks) == 1:
            for i, task in enumerate(tasks):
                done(i, replay(*task))
        else:
            replay_in_processes(tasks, min(self.workers, len(tasks)), done=done)


def _replay_task(task: Task) -> RunResult:
    """A Ray task's body: one replay."""
    return replay(*task)


@dataclass(frozen=True)
class RayTasks:
    """Every run a Ray task on the cluster ``address`` (``auto``, ``ray://host:10001``...);
    a Ray already started in this process (a test's ``ray.init``) is used as it is."""

    address: str | None

    def map(self, tasks: Sequence[Task], done: Callable[[int, RunResult], None]) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        remote = ray.remote(_replay_task)
        pending = {remote.remote(task): i for i, task in enumerate(tasks)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                done(pending.pop(ref), ray.get(ref))


@dataclass(frozen=True)
class Sweep:
    """What to sweep: the scenario (and its folder), the parameters, the policy, the seeds."""

    scenario: Scenario
    data: dict[str, Any]  # its fields as written, which the settings change
    base: Path
    params: tuple[Param, ...]
    policy: str
    seeds: tuple[int, ...]
    violation_budget: float | None = None  # None: the scenario as written's, run beside


Progress = Callable[[SweepRun], None]


def run_settings(
    sweep: Sweep,
    settings: Sequence[dict[str, Value]],
    executor: Executor,
    store: Store,
    progress: Progress | None = None,
) -> None:
    """Every setting on every seed, but those the store holds already."""
    missing = {
        key_of(setting, seed): (setting, seed)
        for setting in settings
        for seed in sweep.seeds
        if key_of(setting, seed) not in store.runs
    }
    todo = list(missing.values())  # once each, though NSGA-II may ask for a setting twice
    tasks = [
        (
            apply(sweep.data, setting).model_copy(
                update={"seed": seed, "policies": [sweep.policy]}
            ),
            sweep.base,
            sweep.policy,
            policy_kwargs(sweep.policy, setting),
        )
        for setting, seed in todo
    ]

    def finished(index: int, result: RunResult) -> None:
        setting, seed = todo[index]
        lean = result.model_copy(update={"timeseries": None})  # the report's, not the sweep's
        run = SweepRun(setting=setting, seed=seed, run=lean)
        store.add(run)
        if progress is not None:
            progress(run)

    if tasks:
        executor.map(tasks, finished)


def mean_point(sweep: Sweep, setting: dict[str, Value], store: Store) -> SweepPoint:
    """A setting's objectives: its runs' means over the seeds (not yet on any front)."""
    runs = [store.runs[key_of(setting, seed)].run for seed in sweep.seeds]
    return SweepPoint(
        setting=setting,
        seeds=len(runs),
        cost_usd=sum(r.cost_usd for r in runs) / len(runs),
        violation_minutes=sum(r.violation_minutes for r in runs) / len(runs),
        served_fraction=sum(r.served_fraction for r in runs) / len(runs),
        on_front=False,
    )


def nsga2_settings(
    sweep: Sweep, trials: int, executor: Executor, store: Store, progress: Progress | None
) -> list[dict[str, Value]]:
    """Optuna's NSGA-II over the parameters, minimising (cost, violation minutes), its
    sampler seeded with the scenario's seed; each generation's trials run at once. A resumed
    sweep asks the same trials in the same order and finds their runs in the store."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    population = max(2, min(16, trials // 4))
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=sweep.scenario.seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    space = {p.path: _distribution(optuna, p) for p in sweep.params}
    settings: list[dict[str, Value]] = []
    while len(settings) < trials:
        batch = [study.ask(space) for _ in range(min(population, trials - len(settings)))]
        chosen = [
            {p.path: _on_grid(p, trial.params[p.path]) for p in sweep.params} for trial in batch
        ]
        run_settings(sweep, chosen, executor, store, progress)
        for trial, setting in zip(batch, chosen, strict=True):
            point = mean_point(sweep, setting, store)
            study.tell(trial, [point.cost_usd, point.violation_minutes])
        settings.extend(chosen)
    return settings


def _distribution(optuna: Any, param: Param) -> Any:
    if param.is_range:
        assert param.low is not None and param.high is not None and param.step is not None
        high = param.low + (len(param.values) - 1) * param.step
        if all(isinstance(v, int) for v in param.values):
            return optuna.distributions.IntDistribution(
                int(param.low), int(high), step=int(param.step)
            )
        return optuna.distributions.FloatDistribution(param.low, high, step=param.step)
    return optuna.distributions.CategoricalDistribution(param.values)


def _on_grid(param: Param, value: Any) -> Value:
    return _tidy(value) if isinstance(value, float) and param.is_range else value


def report(
    sweep: Sweep, search: str, settings: Sequence[dict[str, Value]], store: Store
) -> SweepReport:
    """The sweep's runs and points, its front and its recommendation (distinct settings, in
    the order first run; the baseline first when it was run)."""
    unique = list({json.dumps(s): s for s in settings}.values())
    points = [mean_point(sweep, s, store) for s in unique]
    budget = sweep.violation_budget
    if budget is None:
        budget = points[0].violation_minutes  # the baseline is first
    flags = pareto_front([(p.cost_usd, p.violation_minutes) for p in points])
    points = [p.model_copy(update={"on_front": f}) for p, f in zip(points, flags, strict=True)]
    chosen, rule = recommend(points, budget)
    if sweep.violation_budget is None:
        rule += " (the scenario as written's)"
    runs = [store.runs[key_of(s, seed)] for s in unique for seed in sweep.seeds]
    return SweepReport(
        scenario=sweep.scenario.name,
        policy=sweep.policy,
        search=search,
        params=[p.path for p in sweep.params],
        seeds=list(sweep.seeds),
        violation_budget_minutes=budget,
        runs=runs,
        points=points,
        recommended=chosen,
        rule=rule,
    )


def run_sweep(
    sweep: Sweep,
    search: str,
    trials: int,
    executor: Executor,
    store: Store,
    progress: Progress | None = None,
) -> SweepReport:
    """The baseline (when no budget is given), then the grid or NSGA-II's trials."""
    settings = [AS_WRITTEN] if sweep.violation_budget is None else []
    if search == "grid":
        settings += grid(sweep.params)
        run_settings(sweep, settings, executor, store, progress)
    else:
        run_settings(sweep, settings, executor, store, progress)
        settings += nsga2_settings(sweep, trials, executor, store, progress)
    return report(sweep, search, settings, store)
