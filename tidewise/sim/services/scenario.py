"""Scenarios: what to replay, on what, under which policies (YAML, validated by pydantic).

Every field has a unit in its value (``"2Gi"``, ``"90s"``, ``"7d"``) or in its name
(``rps_per_replica``); unknown fields are errors, so a typo never silently means a default.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tidewise.files import InputError, read_input
from tidewise.model import CapacityRules, Resources, parse_cpu, parse_duration, parse_memory
from tidewise.sim.traces import BUILTIN_TRACES, GapPolicy, RateUnit

BUILTIN_PREFIX = "builtin:"


def _duration(value: Any) -> float:
    return parse_duration(value)


def _cpu(value: Any) -> int:
    return parse_cpu(value)


def _memory(value: Any) -> int:
    return parse_memory(value)


Seconds = Annotated[float, BeforeValidator(_duration)]
CpuMilli = Annotated[int, BeforeValidator(_cpu)]
MemoryMiB = Annotated[int, BeforeValidator(_memory)]


Utilization = TypeVar("Utilization", float, np.ndarray)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReservedSpec(Strict):
    discount: float = Field(0.4, ge=0, lt=1)
    term: Seconds = 365 * 86400.0


class ServerlessSpec(Strict):
    vcpu_second_usd: float | None = Field(None, ge=0)
    gib_second_usd: float | None = Field(None, ge=0)


class CatalogSpec(Strict):
    path: str = "builtin:aws-us-east-1"
    provider: Literal["aws", "alicloud"] = "aws"
    region: str | None = None
    zones: list[str] | None = None
    reserved: ReservedSpec = ReservedSpec()
    serverless: ServerlessSpec = ServerlessSpec()
    spot_advisor: str | None = None
    default_spot_band: int = Field(2, ge=0, le=4)


class ShortageSpec(Strict):
    """A window in which spot launches of the listed types (all if empty) fail."""

    start: Seconds
    end: Seconds
    instance_types: list[str] = []

    @model_validator(mode="after")
    def _ordered(self) -> ShortageSpec:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class StormSpec(Strict):
    """A spot storm (issue 5's stress test): interruptions x ``interruption_multiplier`` and
    only ``capacity`` of spot launches succeeding, from ``start`` to ``end``."""

    start: Seconds
    end: Seconds
    interruption_multiplier: float = Field(10.0, ge=0)
    capacity: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> StormSpec:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CloudSpec(Strict):
    vm_boot: tuple[Seconds, Seconds] = (60.0, 120.0)
    serverless_boot: tuple[Seconds, Seconds] = (20.0, 40.0)
    spot_shortages: list[ShortageSpec] = []
    spot_storms: list[StormSpec] = []
    boot_failure: float = Field(0.0, ge=0, le=1)  # chance a VM never becomes Ready
    node_failures_per_hour: float = Field(0.0, ge=0)  # per Ready VM: goes NotReady for good

    @field_validator("vm_boot", "serverless_boot")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[1] < value[0]:
            raise ValueError("give [shortest, longest] boot time, shortest first")
        return value


class NodePoolSpec(Strict):
    name: str
    instance_types: list[str] = Field(min_length=1)


class TraceSpec(Strict):
    """Where a workload's demand comes from: any file the shared trace reader reads (a CSV
    with any columns, ISO or Unix times and any step, or a Prometheus range-query answer)."""

    path: str = "builtin:nasa-http-1995"
    start: datetime
    time_column: str | None = None  # default: the first column
    value_column: str | None = None  # default: the first later one that is not a time
    unit: RateUnit | None = None  # default: per_second for Prometheus, per_minute for a CSV
    scale: float = Field(1.0, gt=0)
    shift: Seconds = 0.0
    on_gap: GapPolicy = GapPolicy.ERROR

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 1995-07-10T00:00:00-04:00")
        return value


class RequestsSpec(Strict):
    cpu: CpuMilli
    memory: MemoryMiB
    gpu: int = Field(0, ge=0)
    gpu_milli: int = Field(0, ge=0, lt=1000)
    gpu_memory: MemoryMiB = 0
    gpu_model: str | None = None

    def resources(self) -> Resources:
        return Resources(
            cpu_milli=self.cpu,
            memory_mib=self.memory,
            gpu_count=self.gpu,
            gpu_milli=self.gpu_milli,
            gpu_memory_mib=self.gpu_memory,
            gpu_model=self.gpu_model,
        )

    @model_validator(mode="after")
    def _one_gpu_kind(self) -> RequestsSpec:
        if self.gpu and self.gpu_milli:
            raise ValueError("ask for whole GPUs (gpu) or a share (gpu_milli), not both")
        return self


class ReplicasSpec(Strict):
    min: int = Field(1, ge=0)
    max: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReplicasSpec:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        return self


class UsageSpec(Strict):
    """What a replica really uses, as fractions of its requests: the twin's usage model.

    CPU is what the HPA sees (the request times the utilisation of the replica); memory is
    ``memory_idle`` of the request when idle, rising linearly to ``memory_at_capacity`` when
    serving at capacity. Real services request well above this (Autopilot, EuroSys 2020:
    46 % slack on hand-set limits), which is what right-sizing reclaims.
    """

    memory_idle: float = Field(0.35, gt=0, le=2)
    memory_at_capacity: float = Field(0.5, gt=0, le=2)

    def memory_share(self, utilization: Utilization) -> Utilization:
        """Memory in use as a share of the request, at a utilisation in [0, 1] (a number or
        an array of them)."""
        return self.memory_idle + (self.memory_at_capacity - self.memory_idle) * utilization


class CapacitySpec(Strict):
    """The guarantees of one service (see ``CapacityRules``): an on-demand base as a count
    (``2``) or a share of the replicas (``"25%"``), a PodDisruptionBudget's
    ``max_unavailable`` and Karpenter's do-not-disrupt."""

    on_demand_base: int | str = 0
    max_unavailable: int | None = Field(None, ge=0)
    do_not_disrupt: bool = False

    @field_validator("on_demand_base")
    @classmethod
    def _count_or_share(cls, value: int | str) -> int | str:
        CapacityRules.of_base(str(value))  # its ValueError says what to write
        return value if isinstance(value, int) else str(value).strip()

    def rules(self) -> CapacityRules:
        base = CapacityRules.of_base(str(self.on_demand_base))
        return CapacityRules(
            on_demand_base=base.on_demand_base,
            on_demand_base_pct=base.on_demand_base_pct,
            max_unavailable=self.max_unavailable,
            do_not_disrupt=self.do_not_disrupt,
        )


class WorkloadSpecIn(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    trace: TraceSpec
    rps_per_replica: float = Field(gt=0)
    requests: RequestsSpec
    startup: Seconds = 30.0
    replicas: ReplicasSpec = ReplicasSpec()
    target_utilization: float = Field(0.6, gt=0, le=1)
    usage: UsageSpec = UsageSpec()
    capacity: CapacitySpec = CapacitySpec()
    hpa_floor: bool = False  # keep the HPA at the target as a floor under service-level sizing
    overload_risk: float | None = None  # the chance per minute of outgrowing the replicas

    @field_validator("overload_risk")
    @classmethod
    def _risk_is_a_chance(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 0.5:
            raise ValueError(
                "give the chance per minute that the load outgrows the replicas, above 0 and "
                "below 0.5 (e.g. 0.001 for 0.1 % of minutes), or leave it out for the "
                "policy's default"
            )
        return value


class ReclaimSpec(Strict):
    """The co-location rule's margins (``tidewise.capacity.reclaim``), the window over
    which a node's online usage peak is taken, and what a node lends from: what its online
    pods requested, or its whole allocatable (Koordinator's default)."""

    lend: Literal["requested", "allocatable"] = "requested"
    margin: float = Field(0.25, ge=0)
    evict_margin: float = Field(0.1, ge=0)
    window: Seconds = 3600.0

    @model_validator(mode="after")
    def _ordered(self) -> ReclaimSpec:
        if self.evict_margin > self.margin:
            raise ValueError("evict_margin must be at most margin (evict only nearer the usage)")
        if self.window < 60:
            raise ValueError("give a window of at least 1m, e.g. 1h")
        return self


class BatchSpec(Strict):
    """A batch load: Spark-like jobs built from the Philly job trace (docs/scenarios.md).

    Each Philly job arriving in ``[start, start + arrivals)`` of the trace is one batch job
    arriving as long after t = 0 as it did after ``start``, with ``executors_per_gpu``
    executor pods per GPU it asked for (at most ``max_executors``), each ``executor`` in
    size and running the job's duration, cut at ``max_duration``; jobs are kept in a seeded
    order while the offered work stays within ``core_hours``.
    """

    trace: str
    online: str = "tidewise"  # the online services' policy under the co-location policies
    start: Seconds = 0.0
    arrivals: Seconds = 6 * 86400.0
    core_hours: float = Field(gt=0)
    executor: RequestsSpec = RequestsSpec(cpu="1", memory="2Gi")
    executors_per_gpu: int = Field(1, ge=1)
    max_executors: int = Field(16, ge=1)
    max_duration: Seconds = 6 * 3600.0
    checkpoint_share: float = Field(0.5, ge=0, le=1)
    checkpoint_every: Seconds = 600.0
    reclaim: ReclaimSpec = ReclaimSpec()

    @field_validator("arrivals", "max_duration", "checkpoint_every")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("give a positive duration, e.g. 6h")
        return value


class Scenario(Strict):
    name: str
    description: str = ""
    seed: int = 0
    horizon: Seconds
    step: Seconds = 60.0
    catalog: CatalogSpec = CatalogSpec()
    cloud: CloudSpec = CloudSpec()
    node_pools: list[NodePoolSpec] = Field(min_length=1)
    workloads: list[WorkloadSpecIn] = Field(min_length=1)
    policies: list[str] = Field(min_length=1)
    batch: BatchSpec | None = None

    @field_validator("horizon")
    @classmethod
    def _whole_minutes(cls, value: float) -> float:
        if value < 60 or value % 60:
            raise ValueError("use a whole number of minutes, at least 1m (e.g. '7d')")
        return value

    @field_validator("step")
    @classmethod
    def _step_is_minute(cls, value: float) -> float:
        if value != 60:
            raise ValueError("the twin samples per minute: use '60s'")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        names = [w.name for w in self.workloads]
        if len(set(names)) != len(names):
            raise ValueError("workload names must be unique")
        return self


class ScenarioError(ValueError):
    """A scenario that cannot run; the message is one line naming the field and the fix."""


def resolve_path(text: str, base: Path, builtins: dict[str, Any] | None = None) -> Path | str:
    """A ``builtin:NAME`` stays a name; anything else is a path relative to the scenario."""
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
        if builtins is not None and name not in builtins:
            raise ScenarioError(f"unknown builtin {name!r}; known: {', '.join(builtins)}")
        return name
    path = Path(text)
    return path if path.is_absolute() else base / path


def load_scenario(path: Path) -> tuple[Scenario, Path]:
    """Parse and validate a scenario file; returns it with the folder its paths are relative to."""
    return validate_scenario(scenario_data(path), path)


def scenario_data(path: Path) -> dict[str, Any]:
    """A scenario file's fields as written (what ``tidewise sweep`` changes and validates
    again: the validated model holds parsed values, ``2Gi`` as 2048, that do not parse)."""
    try:
        raw = yaml.safe_load(read_input(path))
    except InputError as err:
        raise ScenarioError(f"scenario file {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    return raw


def validate_scenario(raw: dict[str, Any], path: Path) -> tuple[Scenario, Path]:
    """``raw`` (a scenario file's fields, from ``path``) validated, its trace files found."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(f"{path}: {describe(err)}") from None
    base = path.parent
    for i, workload in enumerate(scenario.workloads):
        trace = resolve_path(workload.trace.path, base, BUILTIN_TRACES)
        if isinstance(trace, Path) and not trace.is_file():
            raise ScenarioError(
                f"{path}: workloads[{i}].trace.path: file {trace} does not exist; "
                "give a path relative to the scenario or builtin:nasa-http-1995"
            )
    return scenario, base


def describe(err: ValidationError, docs: str = "docs/scenarios.md") -> str:
    """The first validation error as ``field.path: what is wrong (got value)``; an unknown
    field points at ``docs``, where the fields are listed."""
    first = err.errors()[0]
    where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(
        ".[", "["
    )
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = f"unknown field; check the spelling (see {docs})"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        if message.startswith(("a ", "an ")):
            message = "expected " + message
    got = first.get("input")
    suffix = f" (got {got!r})" if first["type"] != "missing" and not isinstance(got, dict) else ""
    return f"{where}: {message}{suffix}"
