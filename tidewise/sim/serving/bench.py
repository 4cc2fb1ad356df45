"""``tidewise bench serve``: one LLM service, one request replay, serving policies side by side.

- ``hpa-gpu``: KServe raw deployment's HPA on GPU utilisation (target 80 %, min 1 replica);
- ``kpa``: Knative's KPA on concurrency, its defaults, scale to zero; the per-replica target
  is the concurrency a replica holds at the rate where it still meets the objective (the
  steady state of ``capacity.slo_rate``) divided by the 70 % target utilisation, so that the
  KPA aims at exactly that concurrency (Knative's default of 100 suits short web requests,
  not LLM requests that stay seconds on the server);
- ``keda-queue``: KEDA on waiting requests, threshold 5 a replica, cooldown 300 s to zero;
- ``tidewise``: ``TokenLoadScaler``, 2.33 standard deviations of headroom (one-sided 99 %).

Every policy starts from the same Ready replicas (what the busiest minute needs before a
replica started at once could be Ready: nothing a policy does can help earlier) and is first
asked after two minutes, once its metric windows hold data. ``knobs`` override each policy's
main knob (``KNOBS``), ``floors`` its minimum replicas; ``tune`` finds a policy's cheapest
knob that meets the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tidewise.model.inference import InferenceProfile, ServiceObjective
from tidewise.scaling.forecast import forecaster_named
from tidewise.scaling.serving.capacity import SteadyState, slo_rate
from tidewise.scaling.serving.kpa import KnativeKpa
from tidewise.scaling.serving.metric_hpas import GpuUtilizationHpa, KedaQueueScaler
from tidewise.scaling.serving.observation import ServingPolicy
from tidewise.scaling.serving.token_load import PROMPT_TAIL, TokenLoadScaler
from tidewise.sim.rate_trace import load_rate_trace, parse_instant
from tidewise.sim.serving.engine import History, ReplaySettings, ServingRun, replay
from tidewise.sim.serving.metrics import nearest_rank, summary
from tidewise.sim.serving.profiles import profile
from tidewise.sim.serving.requests import (
    RequestTrace,
    history_of,
    is_request_trace,
    load_request_trace,
    requests_from_rates,
    split,
)

SERVING_POLICIES = ("hpa-gpu", "kpa", "keda-queue", "tidewise")
KNOBS = {
    "hpa-gpu": "target GPU utilisation, %",
    "kpa": "target concurrency per replica",
    "keda-queue": "waiting requests per replica",
    "tidewise": "headroom, standard deviations of minute load",
}
DEFAULT_FLOORS = {"hpa-gpu": 1, "kpa": 0, "keda-queue": 0, "tidewise": 0}
KPA_UTILIZATION = 0.7
KEDA_THRESHOLD = 5.0
HPA_TARGET = 80.0
TIDEWISE_LOAD = 0.85
TIDEWISE_SIGMAS = 2.33  # one-sided 99 %: the attainment objective's share of minutes
WARM_S = 120.0


@dataclass(frozen=True)
class ServeSettings:
    objective: ServiceObjective = field(default_factory=ServiceObjective)
    max_replicas: int = 64
    step_s: float = 0.25
    node_linger_s: float = 30.0
    autoscale_after_s: float = WARM_S
    initial_replicas: int | None = None  # None: what the first two minutes need
    knobs: dict[str, float] = field(default_factory=dict)
    floors: dict[str, int] = field(default_factory=dict)
    forecaster: str | None = None  # tidewise's, for traces with a day of history
    history: History | None = None


def reference_state(
    requests: RequestTrace, profile: InferenceProfile, objective: ServiceObjective
) -> SteadyState:
    """One replica at the highest rate that meets the objective for the trace's token mix
    (at the highest load alone, when no rate meets it)."""
    prompt = float(requests.prompt_tokens.mean()) if len(requests) else 1000.0
    output = float(requests.output_tokens.mean()) if len(requests) else 200.0
    mix = (profile, prompt, output)
    try:
        return slo_rate(*mix, objective, max_load=TIDEWISE_LOAD, prompt_tail=PROMPT_TAIL * prompt)
    except ValueError:
        return slo_rate(*mix, None, max_load=TIDEWISE_LOAD)


def default_knob(name: str, reference: SteadyState) -> float:
    if name == "hpa-gpu":
        return HPA_TARGET
    if name == "kpa":
        return max(1.0, round(reference.concurrency / KPA_UTILIZATION, 1))
    if name == "keda-queue":
        return KEDA_THRESHOLD
    if name == "tidewise":
        return TIDEWISE_SIGMAS
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(SERVING_POLICIES)}")


def build_policy(
    name: str,
    profile: InferenceProfile,
    settings: ServeSettings,
    reference: SteadyState,
) -> ServingPolicy:
    knob = settings.knobs.get(name, default_knob(name, reference))
    floor = settings.floors.get(name, DEFAULT_FLOORS[name])
    top = settings.max_replicas
    if name == "hpa-gpu":
        return GpuUtilizationHpa(knob, max(floor, 1), top)
    if name == "kpa":
        return KnativeKpa(target=knob, min_scale=floor, max_scale=top)
    if name == "keda-queue":
        return KedaQueueScaler(knob, min_replica_count=floor, max_replica_count=top)
    forecaster = forecaster_named(settings.forecaster) if settings.forecaster else None
    return TokenLoadScaler(profile, settings.objective, forecaster, floor, top, noise_sigmas=knob)


def initial_replicas(
    requests: RequestTrace,
    profile: InferenceProfile,
    reference: SteadyState,
    settings: ServeSettings,
) -> int:
    """The replicas that carry the busiest minute before a replica started at once could be
    Ready: nothing a policy does can help earlier, so every policy starts there."""
    if settings.initial_replicas is not None:
        return settings.initial_replicas
    window = settings.autoscale_after_s + profile.cold_start.seconds()
    early = requests.arrival_s[requests.arrival_s < window]
    busiest = np.bincount((early // 60).astype(np.int64)).max() / 60 if len(early) else 0.0
    return min(max(1, math.ceil(busiest / reference.rate)), settings.max_replicas)


def run_policy(
    requests: RequestTrace,
    profile: InferenceProfile,
    name: str,
    settings: ServeSettings,
    progress: Callable[[float], None] | None = None,
    label: str | None = None,
) -> ServingRun:
    reference = reference_state(requests, profile, settings.objective)
    floor = settings.floors.get(name, DEFAULT_FLOORS[name])
    start = max(initial_replicas(requests, profile, reference, settings), floor)
    replay_settings = ReplaySettings(
        step_s=settings.step_s,
        min_replicas=0,
        max_replicas=settings.max_replicas,
        initial_replicas=min(start, settings.max_replicas),
        node_linger_s=settings.node_linger_s,
        autoscale_after_s=settings.autoscale_after_s,
        history=settings.history,
    )
    policy = build_policy(name, profile, settings, reference)
    return replay(requests, profile, policy, label or name, replay_settings, progress)


def run_serving(
    requests: RequestTrace,
    profile: InferenceProfile,
    settings: ServeSettings,
    policies: Sequence[str] = SERVING_POLICIES,
    progress: Callable[[str, float], None] | None = None,
) -> list[ServingRun]:
    runs = []
    for name in policies:
        report = None if progress is None else (lambda t, n=name: progress(n, t))
        runs.append(run_policy(requests, profile, name, settings, report))
    return runs


@dataclass(frozen=True)
class Tuned:
    """A baseline's sweep: every (knob, floor) tried with its summary, and the cheapest that
    met the objective (None when none did)."""

    policy: str
    tried: list[dict[str, object]]
    best: dict[str, object] | None


def tune(
    requests: RequestTrace,
    profile: InferenceProfile,
    name: str,
    knobs: Sequence[float],
    floors: Sequence[int],
    settings: ServeSettings,
) -> Tuned:
    """Run ``name`` at every knob and floor; the best is the fewest GPU-hours among those
    whose attainment meets the objective's."""
    tried = []
    for floor in floors:
        for knob in knobs:
            s = replace(
                settings,
                knobs={**settings.knobs, name: knob},
                floors={**settings.floors, name: floor},
            )
            run = run_policy(requests, profile, name, s)
            row = summary(run, settings.objective)
            row.update(knob=knob, floor=floor)
            tried.append(row)
    return Tuned(name, tried, cheapest(tried, settings.objective))


def cheapest(rows: Sequence[dict[str, Any]], objective: ServiceObjective) -> dict[str, Any] | None:
    """The row with the fewest GPU-hours among those that meet the objective's attainment."""
    meeting = [r for r in rows if float(r["slo_attainment"]) >= objective.attainment]
    return min(meeting, key=lambda r: float(r["gpu_hours"])) if meeting else None


def minute_series(
    run: ServingRun, objective: ServiceObjective
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per minute of the trace: mean replicas, the median TTFT and the objective's percentile
    of TTFT (NaN in minutes without requests)."""
    minutes = max(1, math.ceil(run.duration_s / 60))
    per = max(1, round(60 / run.step_s))
    padded = np.zeros(minutes * per)
    padded[: len(run.replicas)] = run.replicas[: len(padded)]
    replicas = padded.reshape(minutes, per).mean(axis=1)
    minute = (run.arrival_s // 60).astype(np.int64)
    seen = np.unique(minute)
    inside = seen < minutes
    out = []
    for percentile in (50.0, objective.percentile):
        ttft = np.full(minutes, np.nan)
        ttft[seen[inside]] = nearest_rank(run.ttft_s, minute, percentile)[inside]
        out.append(ttft)
    return replicas, out[0], out[1]


@dataclass(frozen=True)
class Workload:
    """The requests to replay and, for a rate trace, the history of the days before."""

    requests: RequestTrace
    history: History | None
    description: str


def load_workload(
    trace: Path,
    tokens: Path | None,
    *,
    start: str | None,
    hours: float,
    peak_rps: float,
    history_days: int,
    seed: int,
    history_step_s: float = 10.0,
) -> Workload:
    """A request trace replayed as it is, or a rate trace's window shaped into requests.

    For a rate trace the window (``hours`` from ``start``, default: the trace's first whole
    day after ``history_days``) and the ``history_days`` before it are drawn together, scaled
    so that their busiest step reaches ``peak_rps``; the days before become the history a
    forecaster learns from.
    """
    if hours <= 0 or peak_rps <= 0 or history_days < 0 or seed < 0:  # whatever the trace
        raise ValueError("--hours > 0, --peak-rps > 0, --history-days >= 0 and --seed >= 0")
    if is_request_trace(trace):
        if tokens is not None:
            raise ValueError(
                f"--tokens: only for a rate trace; --trace {trace} is a request trace, "
                "replayed with its own token counts"
            )
        requests = load_request_trace(trace)
        return Workload(requests, None, f"{trace.name}: {len(requests):,} requests as recorded")
    if tokens is None:
        raise ValueError(
            f"--trace: {trace} is a rate trace; give --tokens, a request trace (e.g. the "
            "Azure LLM inference trace) to draw each request's token counts from"
        )
    rates = load_rate_trace(trace)
    per_day = round(86_400 / rates.step_s)
    if start is None:
        first = history_days * per_day
    else:
        at = parse_instant(start)
        first = round((at - rates.start_unix_s) / rates.step_s)
    steps = round(hours * 3600 / rates.step_s)
    before = history_days * per_day
    if first - before < 0:
        raise ValueError(
            f"--start: {history_days} history day(s) before it lie outside {rates.name}; "
            "start later or lower --history-days"
        )
    drawn = requests_from_rates(
        rates,
        load_request_trace(tokens),
        np.random.default_rng(seed),
        peak_rps=peak_rps,
        start_step=first - before,
        steps=before + steps,
    )
    past, requests = split(drawn, before * rates.step_s)
    history = History(*history_of(past, history_step_s)) if before else None
    description = (
        f"{rates.name} ({rates.value_column}) shape over {hours:g} h, busiest step at "
        f"{peak_rps:g} requests/s, token counts from {tokens.name} (seed {seed}): "
        f"{len(requests):,} requests, {history_days} day(s) of history before"
    )
    return Workload(requests, history, description)


def parse_assignments(items: Sequence[str], option: str, cast: type) -> dict[str, float]:
    """``POLICY=VALUE`` pairs of a repeated option, checked against the policy names."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in SERVING_POLICIES:
            raise ValueError(
                f"{option}: '{item}' is not POLICY=VALUE with POLICY one of "
                f"{', '.join(SERVING_POLICIES)}"
            )
        try:
            out[name] = cast(value)
        except ValueError:
            raise ValueError(f"{option}: '{value}' in '{item}' is not a number") from None
    return out


def document(
    workload: Workload,
    profile: InferenceProfile,
    settings: ServeSettings,
    runs: Sequence[ServingRun],
) -> dict[str, Any]:
    """The JSON ``tidewise bench serve --json`` writes: setup, then one row per policy."""
    reference = reference_state(workload.requests, profile, settings.objective)
    rows = []
    for run in runs:
        row = summary(run, settings.objective)
        row["knob"] = settings.knobs.get(run.policy, default_knob(run.policy, reference))
        row["floor"] = settings.floors.get(run.policy, DEFAULT_FLOORS[run.policy])
        rows.append(row)
    objective = settings.objective
    return {
        "benchmark": "serve",
        "workload": workload.description,
        "requests": len(workload.requests),
        "duration_s": workload.requests.duration_s,
        "profile": {
            "name": profile.name,
            "gpu_fraction": profile.gpu_fraction,
            "prefill_tokens_per_s": round(profile.prefill_tokens_per_s, 1),
            "iteration_s": round(profile.iteration_s, 6),
            "per_sequence_s": round(profile.per_sequence_s, 7),
            "per_context_token_s": profile.per_context_token_s,
            "kv_capacity_tokens": profile.kv_capacity_tokens,
            "max_num_seqs": profile.max_num_seqs,
            "max_batched_tokens": profile.max_batched_tokens,
            "cold_start_s": {
                "node_boot": profile.cold_start.node_boot_s,
                "image_pull": profile.cold_start.image_pull_s,
                "model_load": round(profile.cold_start.model_load_s, 1),
            },
        },
        "objective": {
            "ttft_s": objective.ttft_s,
            "tpot_s": objective.tpot_s,
            "percentile": objective.percentile,
            "attainment": objective.attainment,
        },
        "replica_at_objective": {
            "requests_per_s": round(reference.rate, 3),
            "concurrency": round(reference.concurrency, 1),
        },
        "settings": {
            "step_s": settings.step_s,
            "max_replicas": settings.max_replicas,
            "node_linger_s": settings.node_linger_s,
            "autoscale_after_s": settings.autoscale_after_s,
            "forecaster": settings.forecaster,
        },
        "knobs": KNOBS,
        "policies": rows,
    }


def prepare(
    *,
    trace: Path,
    model: str,
    gpu: str,
    share: float,
    policies: str | None,
    tokens: Path | None,
    start: str | None,
    hours: float,
    peak_rps: float,
    history_days: int,
    seed: int,
    ttft: float,
    tpot: float | None,
    attainment: float,
    knobs: Sequence[str],
    floors: Sequence[str],
    max_replicas: int,
    step: float,
    node_boot: float | None,
    image_pull: float | None,
    model_load: float | None,
    node_linger: float,
    forecaster: str,
) -> tuple[list[str], Workload, InferenceProfile, ServeSettings]:
    """The command line's options checked and turned into what ``run_serving`` takes; every
    error is a ``ValueError`` naming the option and the fix."""
    names = [n.strip() for n in (policies or ",".join(SERVING_POLICIES)).split(",")]
    unknown = [n for n in names if n not in SERVING_POLICIES]
    if unknown:
        known = ", ".join(SERVING_POLICIES)
        raise ValueError(f"--policies: unknown {', '.join(unknown)}; known: {known}")
    try:
        forecaster_named(forecaster)
        objective = ServiceObjective(ttft, tpot, attainment=attainment)
    except ValueError as err:
        raise ValueError(f"--forecaster/--ttft/--tpot/--attainment: {err}") from None
    if max_replicas < 1 or step <= 0 or node_linger < 0:
        raise ValueError("--max-replicas >= 1, --step > 0 and --node-linger >= 0")
    server = profile(model, gpu, share)
    parts = {"node_boot_s": node_boot, "image_pull_s": image_pull, "model_load_s": model_load}
    overrides = {k: v for k, v in parts.items() if v is not None}
    if overrides:
        try:
            server = replace(server, cold_start=replace(server.cold_start, **overrides))
        except ValueError as err:
            raise ValueError(f"--node-boot/--image-pull/--model-load: {err}") from None
    workload = load_workload(
        trace,
        tokens,
        start=start,
        hours=hours,
        peak_rps=peak_rps,
        history_days=history_days,
        seed=seed,
    )
    settings = ServeSettings(
        objective=objective,
        max_replicas=max_replicas,
        step_s=step,
        node_linger_s=node_linger,
        knobs=parse_assignments(knobs, "--knob", float),
        floors={k: int(v) for k, v in parse_assignments(floors, "--floor", int).items()},
        forecaster=forecaster if workload.history is not None else None,
        history=workload.history,
    )
    return names, workload, server, settings


def notes(workload: Workload, objective: ServiceObjective) -> str:
    return (
        f"{workload.description}; objective: TTFT p{objective.percentile:g} under "
        f"{objective.ttft_s:g} s in {objective.attainment:.0%} of the minutes with requests."
    )


def chart_series(
    workload: Workload, runs: Sequence[ServingRun], objective: ServiceObjective
) -> tuple[
    float, np.ndarray, dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]], float
]:
    """What the report charts, per minute: start time, arrivals, replicas and TTFT by policy."""
    series = {run.policy: minute_series(run, objective) for run in runs}
    minutes = max(1, math.ceil(workload.requests.duration_s / 60))
    arrivals = np.bincount((workload.requests.arrival_s // 60).astype(np.int64), minlength=minutes)[
        :minutes
    ].astype(float)
    replicas = {name: s[0] for name, s in series.items()}
    ttft = {name: (s[1], s[2]) for name, s in series.items()}
    return workload.requests.start_unix_s, arrivals, replicas, ttft, objective.ttft_s
