"""A CronHPA schedule learnt from a service's history: what operators write by hand, measured.

For each day type (weekdays, weekends) and hour of the day, the size is the replicas that
carry a high quantile of the load seen in that hour over the history. Each hour's job fires
``lead_s`` before the hour, so pods are Ready when it starts; a job for midnight therefore
fires on the previous day, and its day-of-week list is shifted by one. An hour the history
never saw for its day type takes that hour of the other day type, else the whole history's
quantile; with no observation at all, the service's minimum.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from tidewise.scaling.cron import API_VERSION, KIND, CronHpaSpec
from tidewise.scaling.observation import ServiceModel

DAY_TYPES = {"weekday": (1, 2, 3, 4, 5), "weekend": (0, 6)}  # cron day-of-week, Sunday 0


def learn_cron(
    history: np.ndarray,
    step_s: float,
    start: datetime,
    service: ServiceModel,
    lead_s: float,
    quantile: float = 0.95,
    name: str = "learnt",
) -> CronHpaSpec:
    """A schedule from ``history`` (load per step, NaN in gaps) starting at ``start`` (aware:
    its zone is the schedule's)."""
    if not 0 < quantile <= 1:
        raise ValueError("quantile must be in (0, 1]")
    hours = np.array(
        [start + timedelta(seconds=i * step_s) for i in range(len(history))], dtype=object
    )
    hour_of_day = np.array([h.hour for h in hours])
    cron_dow = np.array([h.isoweekday() % 7 for h in hours])
    lead_min = math.ceil(lead_s / 60)
    seen = ~np.isnan(history)

    def level(mask: np.ndarray) -> float | None:
        values = history[mask & seen]
        return float(np.quantile(values, quantile)) if len(values) else None

    overall = level(np.ones(len(history), dtype=bool))
    jobs = []
    for kind, days in DAY_TYPES.items():
        in_type = np.isin(cron_dow, days)
        for hour in range(24):
            at_hour = hour_of_day == hour
            load = level(in_type & at_hour)
            load = level(at_hour) if load is None else load
            load = overall if load is None else load
            size = service.min_replicas
            if load is not None:
                size = max(size, service.replicas_for(load))
            size = min(size, service.max_replicas)
            fire = datetime(2000, 1, 1, hour) - timedelta(minutes=lead_min)
            fire_days = days if fire.day == 1 else tuple(sorted((d - 1) % 7 for d in days))
            jobs.append(
                {
                    "name": f"{kind}-{hour:02d}",
                    "schedule": f"0 {fire.minute} {fire.hour} * * "
                    + ",".join(str(d) for d in fire_days),
                    "targetSize": size,
                }
            )
    zone = getattr(start.tzinfo, "key", "UTC")
    return CronHpaSpec.from_manifest(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "jobs": jobs,
                "timeZone": zone,
            },
        }
    )
