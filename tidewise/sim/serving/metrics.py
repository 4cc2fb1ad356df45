"""What a serving replay achieved: latencies per request, the objective per minute, cost.

A minute (of arrival) with requests meets the objective when the ``percentile`` of their times
to first token is under the objective's TTFT (and, when the objective has one, the same
percentile of their times per output token under its TPOT). Percentiles here are nearest-rank
(the smallest value at or above that share of the minute's requests), so a minute with one
slow request out of ten fails at p95: no interpolation hides it. Attainment is the share of
minutes with requests that meet the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tidewise.model.inference import ServiceObjective
from tidewise.sim.serving.engine import ServingRun

MINUTE_S = 60.0


@dataclass(frozen=True)
class MinuteSlo:
    minute: np.ndarray  # minute index (of arrival) of every minute that saw requests
    ttft: np.ndarray  # the percentile of TTFT in that minute
    ok: np.ndarray  # bool: the minute met the objective


def nearest_rank(values: np.ndarray, groups: np.ndarray, percentile: float) -> np.ndarray:
    """Per group (sorted unique labels), the nearest-rank percentile of ``values``; NaN
    values are ignored; a group with none gives NaN."""
    keep = ~np.isnan(values)
    labels, values = groups[keep], values[keep]
    order = np.lexsort((values, labels))
    labels, values = labels[order], values[order]
    uniq, start, count = np.unique(labels, return_index=True, return_counts=True)
    rank = np.ceil(percentile / 100 * count).astype(np.int64) - 1
    out = dict(zip(uniq.tolist(), values[start + np.maximum(rank, 0)].tolist(), strict=True))
    return np.array([out.get(g, np.nan) for g in np.unique(groups).tolist()])


def minute_slo(run: ServingRun, objective: ServiceObjective) -> MinuteSlo:
    minute = (run.arrival_s // MINUTE_S).astype(np.int64)
    if not len(minute):
        empty = np.zeros(0)
        return MinuteSlo(empty.astype(np.int64), empty, empty.astype(bool))
    ttft = nearest_rank(run.ttft_s, minute, objective.percentile)
    ok = ttft < objective.ttft_s
    if objective.tpot_s is not None:
        tpot = nearest_rank(run.tpot_s, minute, objective.percentile)
        ok &= np.isnan(tpot) | (tpot < objective.tpot_s)
    return MinuteSlo(np.unique(minute), ttft, ok)


def summary(run: ServingRun, objective: ServiceObjective) -> dict[str, object]:
    """The figures ``tidewise bench serve`` reports for one policy (JSON-ready)."""
    slo = minute_slo(run, objective)
    ttft = run.ttft_s
    tpot = run.tpot_s
    buffered = run.buffered
    alone = np.array(
        [run.profile.alone_ttft_s(int(p)) for p in run.prompt_tokens[buffered]], dtype=float
    )
    added = ttft[buffered] - alone
    served = int(np.count_nonzero(~np.isnan(run.done_s)))

    def pct(values: np.ndarray, q: float) -> float | None:
        values = values[~np.isnan(values)]
        return round(float(np.percentile(values, q)), 4) if len(values) else None

    return {
        "policy": run.policy,
        "gpu_hours": round(run.gpu_hours, 3),
        "slo_attainment": round(float(slo.ok.mean()), 5) if len(slo.ok) else 1.0,
        "violated_minutes": int(np.count_nonzero(~slo.ok)),
        "minutes": len(slo.ok),
        "ttft_p50_s": pct(ttft, 50),
        "ttft_p95_s": pct(ttft, 95),
        "ttft_p99_s": pct(ttft, 99),
        "tpot_p95_s": pct(tpot, 95),
        "requests": len(ttft),
        "served": served,
        "buffered": int(np.count_nonzero(buffered)),
        "added_ttft_buffered_mean_s": round(float(added.mean()), 3) if len(added) else None,
        "added_ttft_buffered_max_s": round(float(added.max()), 3) if len(added) else None,
        "cold_starts": run.cold_starts,
        "replica_minutes_at_zero": round(run.zero_seconds / MINUTE_S, 2),
        "mean_replicas": round(float(run.replicas.mean()), 3) if len(run.replicas) else 0.0,
        "decided_by": dict(sorted(run.rules.items())),
    }
